#!/usr/bin/env bash
# Fuzzes the chat export parsers: WhatsApp text, Telegram JSON and HTML, WeChat message XML,
# WhatsApp backup headers (crypt15/14/12), iPhone backup keybags and file records.
#   scripts/fuzz.sh [SECONDS-PER-TARGET]   (default 300)
# Installs cargo-fuzz into the tools cache (scripts/tools-dir.sh) if missing. libFuzzer needs unstable compiler flags:
# on a stable toolchain they are unlocked with RUSTC_BOOTSTRAP=1 (no nightly needed).
# Crashes land in fuzz/artifacts/<target>/; the seed corpus is in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
tools="$(./scripts/tools-dir.sh)"
fuzz_version=0.13.2
fuzz="$tools/cargo-fuzz-$fuzz_version/bin/cargo-fuzz"
[ -x "$fuzz" ] || cargo install cargo-fuzz --version "$fuzz_version" --locked --root "$tools/cargo-fuzz-$fuzz_version"
cd fuzz
export RUSTC_BOOTSTRAP=1
for t in whatsapp telegram telegram_html wechat_message whatsapp_crypt iphone_backup; do
    mkdir -p "corpus/$t"
    echo "== $t: ${secs}s"
    if "$fuzz" run --sanitizer none -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=512 >"target/fuzz-$t.log" 2>&1; then
        grep -E "^#[0-9]+ *DONE|^Done" "target/fuzz-$t.log" | tail -2
    else
        failed=1
        grep -E "panicked|ERROR|SUMMARY|Test unit written" -A2 "target/fuzz-$t.log" | head -12
    fi
done
exit "${failed:-0}"
