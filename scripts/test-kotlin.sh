#!/usr/bin/env bash
# Compiles the generated JVM-flavour bindings, the Kotlin library (its Android-free part)
# and the JVM tests with kotlinc, then runs the tests against the host cdylib.
# Needs: java (17+), kotlinc (npm package kotlin-compiler), JNA (Debian libjna-java).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${CHATVAULT_TOOLS:-$PWD/target/tools}"
kotlinc="$tools/node_modules/kotlin-compiler/bin/kotlinc"
coroutines="$tools/node_modules/kotlin-compiler/lib/kotlinx-coroutines-core-jvm.jar"
jna=/usr/share/java/jna.jar
for f in "$kotlinc" "$coroutines" "$jna"; do
    [ -e "$f" ] || { echo "missing $f: run scripts/test.sh, which installs it" >&2; exit 1; }
done
./scripts/bindgen.sh target/bindings
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
out=target/kotlin-tests
rm -rf "$out" && mkdir -p "$out"
src=android/chatvault/src
# The Android-only sources (src/main/kotlin/org/chatvault/android) need the Android SDK.
"$kotlinc" -Werror -jvm-target 17 -cp "$jna:$coroutines" -d "$out/classes" \
    target/bindings/kotlin-jvm/org/chatvault/ffi/*.kt \
    "$src"/main/kotlin/org/chatvault/*.kt \
    "$src"/test/kotlin/org/chatvault/*.kt 2>&1 | grep -v "^warning: unable to find kotlin-stdlib.jar" || true
[ -f "$out/classes/org/chatvault/JvmTestsKt.class" ] || { echo "kotlinc failed" >&2; exit 1; }
cargo build -q -p chatvault
java -Djna.library.path="$target_dir/debug" -Dchatvault.cli="$target_dir/debug/chatvault" \
    -cp "$out/classes:$jna:$coroutines:$tools/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar" \
    org.chatvault.JvmTestsKt
