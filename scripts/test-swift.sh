#!/usr/bin/env bash
# Compiles the Swift package (ios/) with Debian's Swift 6 on Linux and runs its tests
# against the real native library. Swift runs in a Debian trixie chroot (scripts/
# swift-chroot.sh makes it once and caches it under the tools folder; root is needed for
# debootstrap and chroot).
#   1. the UniFFI-generated bindings (module ChatVaultFFI) over libchatvault_ffi.so;
#   2. every file of ios/Sources/ChatVault except the Apple-only ones below (module
#      ChatVault), in Swift 6 language mode (complete strict concurrency checking) with
#      warnings as errors, plus ios/Tests/LinuxShims (Foundation calls Linux lacks);
#   3. ios/Tests/ChatVaultLinuxTests (an executable that `import ChatVault`), then runs it.
# The Apple-only files need frameworks no Linux toolchain has; they are syntax-checked with
# tree-sitter instead (scripts/check-swift.py), and README's "Verified here" says so.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(./scripts/tools-dir.sh)"
apple_only=(KeychainSecretStore.swift PcBrowser.swift BackgroundBackups.swift)  # Security, Network, BackgroundTasks

root="$(./scripts/swift-chroot.sh "$tools" | tail -1)"
[ -x "$root/usr/libexec/swift/bin/swiftc" ] || { echo "no swiftc in $root" >&2; exit 1; }
./scripts/bindgen.sh target/bindings >/dev/null
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

# Stage everything inside the chroot (its /tmp); the build happens there.
stage="/tmp/chatvault-swift-$$"
work="$root$stage"
rm -rf "$work" && mkdir -p "$work"/{ffi,src,tests,lib,build}
serve_pid=
cleanup() {
    [ -z "$serve_pid" ] || { kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null || true; }
    umount "$root/proc" 2>/dev/null || true
    rm -rf "$work" "${serve_dir:-}"
}
trap cleanup EXIT
cp target/bindings/swift/ChatVaultFFI.swift target/bindings/swift/ChatVaultFFIFFI.h "$work/ffi/"
cp target/bindings/swift/ChatVaultFFIFFI.modulemap "$work/ffi/module.modulemap"
cp "$target_dir/debug/libchatvault_ffi.so" "$work/lib/"
compiled=()
for f in ios/Sources/ChatVault/*.swift; do
    name="$(basename "$f")"
    skip=0
    for a in "${apple_only[@]}"; do [ "$name" = "$a" ] && skip=1; done
    [ $skip -eq 1 ] && continue
    cp "$f" "$work/src/"
    compiled+=("$name")
done
cp ios/Tests/LinuxShims/*.swift "$work/src/"
cp ios/Tests/ChatVaultLinuxTests/*.swift "$work/tests/"
# The WeChat fixture (SQLCipher-encrypted, Chinese names) for the chat test.
mkdir -p "$work/fixtures" && cp -r tests/fixtures/wechat-android-small "$work/fixtures/wechat"
echo "swift: compiling ${compiled[*]} (Swift 6 mode, strict concurrency, warnings as errors)"
# A real PC receiver for the pairing test: `chatvault serve` on the host, on loopback (the
# chroot shares the host's network), announcing nothing; its pairing URI reaches the tests
# through the environment.
cargo build -q --workspace --all-targets --locked  # as scripts/test.sh built it: nothing to rebuild
serve_dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$target_dir/debug/chatvault" serve --dir "$serve_dir/received" --listen "127.0.0.1:$port" --no-mdns \
    --pair-uri-file "$serve_dir/pair.uri" >"$serve_dir/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 200); do [ -s "$serve_dir/pair.uri" ] && break; kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.05; done
[ -s "$serve_dir/pair.uri" ] || { cat "$serve_dir/serve.log" >&2; echo "chatvault serve did not start" >&2; exit 1; }
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
chroot "$root" env -i PATH=/usr/libexec/swift/bin:/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
    CHATVAULT_PAIR_URI="$(cat "$serve_dir/pair.uri")" CHATVAULT_PAIR_ADDRESS="127.0.0.1:$port" \
    CHATVAULT_WECHAT_FIXTURE="$stage/fixtures/wechat" sh -euc "
cd $stage
swiftc --version 2>&1 | head -1
swiftc -swift-version 6 -module-name ChatVaultFFI -parse-as-library -emit-library -emit-module \
    -emit-module-path build/ChatVaultFFI.swiftmodule -Xcc -fmodule-map-file=ffi/module.modulemap -I ffi \
    ffi/ChatVaultFFI.swift -L lib -lchatvault_ffi -o build/libChatVaultFFI.so
swiftc -swift-version 6 -strict-concurrency=complete -warnings-as-errors -module-name ChatVault \
    -parse-as-library -emit-library -emit-module -emit-module-path build/ChatVault.swiftmodule \
    -Xcc -fmodule-map-file=ffi/module.modulemap -I ffi -I build \
    src/*.swift -L build -lChatVaultFFI -L lib -lchatvault_ffi -o build/libChatVault.so
swiftc -swift-version 6 -strict-concurrency=complete -warnings-as-errors -module-name ChatVaultLinuxTests \
    -Xcc -fmodule-map-file=ffi/module.modulemap -I ffi -I build \
    tests/*.swift -L build -lChatVault -lChatVaultFFI -L lib -lchatvault_ffi -o build/chatvault-swift-tests
LD_LIBRARY_PATH=build:lib ./build/chatvault-swift-tests
"
