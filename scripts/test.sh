#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs them.
# CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use:
#   time  - GNU time measures the peak memory of backup/restore/check child processes.
packages=()
[ -x /usr/bin/time ] || packages+=(time)
if [ ${#packages[@]} -gt 0 ]; then
    echo "installing: ${packages[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }

cargo build --workspace --all-targets --locked
# --nocapture: the tests print what they measure (dedup ratios, peak memory, latencies).
cargo test --workspace --locked -- --nocapture
