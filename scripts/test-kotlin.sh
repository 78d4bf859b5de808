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
# The Android-only sources against real framework classes (Robolectric's android-all jar,
# fetched by scripts/test.sh), with the Android flavour of the bindings, -Werror. Only
# compiled: they need a device to run. BackupWorker needs androidx.work (and androidx.core),
# which no registry we reach serves (Google's Maven repository only): it is left out.
android_jar="${CHATVAULT_ANDROID_JAR:-}"
[ -f "$android_jar" ] || { echo "CHATVAULT_ANDROID_JAR is not set to an android-all jar: run scripts/test.sh, which fetches it" >&2; exit 1; }
android_out=target/android-compile
rm -rf "$android_out" && mkdir -p "$android_out"
android_sources=()
for f in "$src"/main/kotlin/org/chatvault/android/*.kt; do
    [ "$(basename "$f")" = BackupWorker.kt ] || android_sources+=("$f")
done
rc=0
"$kotlinc" -Werror -jvm-target 17 -cp "$android_jar:$jna:$coroutines" -d "$android_out" \
    target/bindings/kotlin-android/org/chatvault/ffi/*.kt \
    "$src"/main/kotlin/org/chatvault/*.kt "${android_sources[@]}" >"$android_out.log" 2>&1 || rc=$?
grep -v "^warning: unable to find kotlin-stdlib.jar" "$android_out.log" || true
[ $rc -eq 0 ] || { echo "kotlinc failed on the Android sources" >&2; exit 1; }
echo "android: compiled $(printf '%s ' "${android_sources[@]##*/}")against $(basename "$(dirname "$android_jar")") with -Werror"
cargo build -q -p chatvault
java -Djna.library.path="$target_dir/debug" -Dchatvault.cli="$target_dir/debug/chatvault" \
    -cp "$out/classes:$jna:$coroutines:$tools/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar" \
    org.chatvault.JvmTestsKt
