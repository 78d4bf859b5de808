#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings from an unstripped build of chatvault-ffi, with
# the uniffi-bindgen pinned to the library's UniFFI version.
#   scripts/bindgen.sh [OUT_DIR]   (default: target/bindings)
# Writes OUT/kotlin-jvm (host JVM tests), OUT/kotlin-android (the AAR), OUT/swift.
# Generated code is never committed: builds and tests regenerate it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
profile="${CHATVAULT_FFI_PROFILE:-debug}"
# The debug build is the workspace's, as scripts/test.sh builds it (`-p chatvault-ffi` alone
# resolves other features and rebuilt every dependency: 18 of CI's minutes).
if [ "$profile" = debug ]; then
    cargo build --workspace --all-targets --locked
else
    cargo build -p chatvault-ffi --profile "$profile"
    cargo build -p uniffi-bindgen
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
lib="$target_dir/$profile/libchatvault_ffi.so"
[ -f "$lib" ] || lib="$target_dir/$profile/libchatvault_ffi.dylib"
bindgen="$target_dir/debug/uniffi-bindgen"
rm -rf "$out/kotlin-jvm" "$out/kotlin-android" "$out/swift"
"$bindgen" generate --library "$lib" --language kotlin --out-dir "$out/kotlin-jvm" --no-format
"$bindgen" generate --library "$lib" --language kotlin --out-dir "$out/kotlin-android" --no-format --config bindings/uniffi-android.toml
"$bindgen" generate --library "$lib" --language swift --out-dir "$out/swift" --no-format
echo "bindings in $out (from $lib)"
