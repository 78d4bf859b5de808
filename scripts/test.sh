#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs them.
# CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- What the tests need -------------------------------------------------------------
#   time        GNU time measures the peak memory of backup/restore/check processes
#   libjna-java JNA, which the generated Kotlin bindings load the native library with
#   a JDK       java + javac to compile and run the Kotlin tests
#   chromium    the HTML export is loaded in a real browser (headless)
#   fonts-noto-cjk, fonts-noto-color-emoji   so Chinese text and emoji render in it
#   nodejs/npm  kotlinc and playwright-core (which drives Chromium) come from npm
packages=()
[ -x /usr/bin/time ] || packages+=(time)
[ -f /usr/share/java/jna.jar ] || packages+=(libjna-java)
command -v javac >/dev/null || packages+=(default-jdk-headless)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || packages+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || packages+=(fonts-noto-color-emoji)
command -v npm >/dev/null || packages+=(nodejs npm)
#   tmux        a real terminal for the progress bar test (cli/tests/cli.rs)
command -v tmux >/dev/null || packages+=(tmux)
#   rclone      its WebDAV server is the real WebDAV destination in the cloud tests
command -v rclone >/dev/null || packages+=(rclone)
#   openssl     makes the test CA and certificate of the WebDAV-over-TLS test
command -v openssl >/dev/null || packages+=(openssl)
#   curl        speaks to the LAN receiver without our client (security tests, bench row)
#   iproute2    `ip netns`: the LAN test across two network namespaces (PC and phone)
command -v curl >/dev/null || packages+=(curl)
command -v ip >/dev/null || packages+=(iproute2)
#   debootstrap the Debian trixie chroot Swift 6 runs in (scripts/swift-chroot.sh)
#   maven       fetches the Android classes the Android sources compile against
command -v debootstrap >/dev/null || packages+=(debootstrap)
command -v mvn >/dev/null || packages+=(maven)
if [ ${#packages[@]} -gt 0 ]; then
    echo "installing: ${packages[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
# Tools are cached outside the clone (scripts/tools-dir.sh: ~/.cache/chatvault-tools unless
# CHATVAULT_TOOLS says otherwise), each keyed by its version, so a fresh clone installs nothing
# an earlier run already installed.
tools="$(./scripts/tools-dir.sh)"
mkdir -p "$tools"
# kotlinc (and kotlinx-coroutines), playwright-core and whatsapp-chat-parser (the
# independent parser of the WhatsApp differential test, tests/tests/whatsapp_differential.rs)
# from npm, in one install command: npm removes packages a later install does not name.
# The installed set is keyed by the package list (a stamp file): a change reinstalls it.
npm_packages="kotlin-compiler@2.4.20 playwright-core@1.65.1 whatsapp-chat-parser@4.0.2"
if [ "$(cat "$tools/node_modules/.chatvault-packages" 2>/dev/null)" != "$npm_packages" ]; then
    # shellcheck disable=SC2086  # the list is words
    npm install --prefix "$tools" --no-save --no-audit --no-fund $npm_packages
    echo "$npm_packages" >"$tools/node_modules/.chatvault-packages"
fi
export CHATVAULT_TOOLS="$tools"
# Garage, the real S3 server of the cloud tests: built once from crates.io (single-node
# features only), then cached. The tests start their own instances on loopback.
# The version is tests/src/servers.rs's GARAGE_VERSION.
garage_version=2.5.0
if [ ! -x "$tools/garage-$garage_version/bin/garage" ]; then
    cargo install garage --version "$garage_version" --locked --no-default-features \
        --features bundled-libs,sqlite --root "$tools/garage-$garage_version"
fi
export CHATVAULT_GARAGE="$tools/garage-$garage_version/bin/garage"
# Real Android classes to compile the Android-only Kotlin against, from Maven Central with
# Maven, once into the tools cache keyed by version: Robolectric's android-all build of the
# newest API level there ("17"), and the AndroidX libraries the library declares (the
# classes.jar of each AAR; androidx.work's ListenableWorker needs Guava's ListenableFuture).
android_all_version=17-robolectric-16653203
android_libs=(androidx.work:work-runtime:2.10.0:aar androidx.core:core:1.15.0:aar
    androidx.annotation:annotation-jvm:1.9.1:jar com.google.guava:listenablefuture:1.0:jar)
android_dir="$tools/android-classes-$android_all_version-$(printf '%s\n' "${android_libs[@]}" | sha256sum | cut -c1-12)"
if [ ! -f "$android_dir/android-all.jar" ]; then
    rm -rf "$android_dir.partial" && mkdir -p "$android_dir.partial"
    for a in "${android_libs[@]}"; do
        IFS=: read -r group artifact version packaging <<<"$a"
        mvn -q -B dependency:copy -Dmaven.repo.local="$tools/m2" -Dtransitive=false \
            -Dartifact="$group:$artifact:$version:$packaging" -DoutputDirectory="$android_dir.partial"
        if [ "$packaging" = aar ]; then
            unzip -q -p "$android_dir.partial/$artifact-$version.aar" classes.jar >"$android_dir.partial/$artifact-$version.jar"
            rm "$android_dir.partial/$artifact-$version.aar"
        fi
    done
    mvn -q -B dependency:copy -Dmaven.repo.local="$tools/m2" -Dtransitive=false \
        -Dartifact="org.robolectric:android-all:$android_all_version" -DoutputDirectory="$android_dir.partial"
    mv "$android_dir.partial/android-all-$android_all_version.jar" "$android_dir.partial/android-all.jar"
    rm -rf "$tools/m2/org/robolectric"   # 230 MB: the copy above is the one kept
    rm -rf "$android_dir" && mv "$android_dir.partial" "$android_dir"
fi
export CHATVAULT_ANDROID_CLASSES="$android_dir"
# A real Swift grammar (no Swift compiler can be installed here) to syntax-check ios/.
python3 -c "import tree_sitter, tree_sitter_swift" 2>/dev/null || python3 -m pip install --quiet tree-sitter==0.26.1 tree-sitter-swift==0.7.4
# WhatsApp's backup encryption by an independent implementation: the crypt15/crypt14
# fixtures of tests/tests/whatsapp_db.rs are made by its waencrypt (and its Key14 key files).
python3 -m pip show wa-crypt-tools 2>/dev/null | grep -qx 'Version: 0.1.0' \
    || python3 -m pip install --quiet wa-crypt-tools==0.1.0
# WhatsApp's databases read by an independent implementation: tests/tests/whatsapp_ios.rs
# (and whatsapp_db.rs) compare what it reads with ours.
python3 -m pip show whatsapp-chat-exporter 2>/dev/null | grep -qx 'Version: 0.13.1' \
    || python3 -m pip install --quiet whatsapp-chat-exporter==0.13.1
# iPhone backup encryption read by an independent implementation: tests/tests/iphone_backup.rs
# has it decrypt our encrypted fixture (tests/iphone-backup/decrypt.py).
python3 -m pip show iphone-backup-decrypt 2>/dev/null | grep -qx 'Version: 0.11.2' \
    || python3 -m pip install --quiet iphone-backup-decrypt==0.11.2

# Swift 6: a Debian trixie chroot with `swiftlang` (scripts/swift-chroot.sh), cached in
# $tools. The first time it takes about 11 minutes, mostly downloading and unpacking: made
# in the background while Rust builds and tests, awaited before the Swift tests.
./scripts/swift-chroot.sh "$tools" >"$tools/swift-chroot.out" 2>&1 &
swift_chroot_pid=$!

# --- The tests -----------------------------------------------------------------------
# Each stage says how long it took (CI must stay under an hour: the log shows where it goes).
stage_start=$SECONDS
stage() { echo "== $1: $((SECONDS - stage_start)) s (total $SECONDS s)"; stage_start=$SECONDS; }
stage "tools"
# As root, network namespaces can be made: the two-host LAN test (mDNS discovery across a
# veth link) must then run, not skip.
[ "$(id -u)" -eq 0 ] && export CHATVAULT_REQUIRE_NETNS=1  # also the full-disk test (a tmpfs)
# No two core modules import each other (docs/ARCHITECTURE.md, "Layers").
python3 scripts/module-deps.py
cargo build --workspace --all-targets --locked
stage "build"
# Lints: the whole workspace, every feature and target, warnings are errors.
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
stage "clippy"
# --nocapture: the tests print what they measure (dedup ratios, peak memory, latencies).
# --no-fail-fast: every test binary runs, so one failure does not hide the others.
cargo test --workspace --locked --no-fail-fast -- --nocapture
stage "cargo test"
# Kotlin: generated JVM bindings + the library + JVM tests against the real cdylib.
CHATVAULT_TOOLS="$tools" ./scripts/test-kotlin.sh
stage "kotlin"
# Swift: the package compiled with Swift 6 (a trixie chroot, made once into $tools) and its
# tests run against the real cdylib; the files needing Apple-only frameworks only parse.
wait "$swift_chroot_pid" || { cat "$tools/swift-chroot.out" >&2; echo "the Swift chroot could not be made" >&2; exit 1; }
CHATVAULT_TOOLS="$tools" ./scripts/test-swift.sh
python3 scripts/check-swift.py ios/Sources/ChatVault/KeychainSecretStore.swift ios/Sources/ChatVault/PcBrowser.swift \
    ios/Sources/ChatVault/BackgroundBackups.swift
stage "swift"
# The library a phone app ships (the `mobile` profile: opt-level s, LTO, one codegen unit;
# scripts/build-android.sh builds with it), for this host, stripped: must stay under 12 MiB.
# Relocations are packed as the phone builds pack them (scripts/build-android.sh: Android's
# packed format, API 23+; Mach-O's chained fixups on iOS): here RELR (glibc 2.36+). Unpacked,
# the pointer tables of the language data alone take ~1 MiB of 24-byte entries.
RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs" cargo build --locked --profile mobile -p chatvault-ffi
strip -o "$target_dir/libchatvault_ffi.stripped.so" "$target_dir/mobile/libchatvault_ffi.so"
size=$(stat -c %s "$target_dir/libchatvault_ffi.stripped.so")
echo "mobile cdylib, stripped: $size bytes"
stage "mobile library"
[ "$size" -lt $((12 * 1024 * 1024)) ] || { echo "the stripped cdylib is over 12 MiB" >&2; exit 1; }
echo "all tests passed"
