#!/usr/bin/env bash
# Compiles the generated JVM-flavour bindings, the Kotlin library (its Android-free part)
# and the JVM tests with kotlinc, then runs the tests against the host cdylib.
# Needs: java (17+), kotlinc (npm package kotlin-compiler), JNA (Debian libjna-java).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(./scripts/tools-dir.sh)"
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
# The JVM part; the Android-only sources (org/chatvault/android) are compiled below.
"$kotlinc" -Werror -jvm-target 17 -cp "$jna:$coroutines" -d "$out/classes" \
    target/bindings/kotlin-jvm/org/chatvault/ffi/*.kt \
    "$src"/main/kotlin/org/chatvault/*.kt \
    "$src"/test/kotlin/org/chatvault/*.kt 2>&1 | grep -v "^warning: unable to find kotlin-stdlib.jar" || true
[ -f "$out/classes/org/chatvault/JvmTestsKt.class" ] || { echo "kotlinc failed" >&2; exit 1; }
# The Android-only sources (org/chatvault/android: SafStorage, KeystoreSecretStore,
# PcDiscovery, BackupWorker) with the Android flavour of the bindings against real Android
# classes (Robolectric's android-all jar of the newest API level, androidx.work, androidx.core;
# scripts/test.sh fetches them from Maven Central), -Werror. Compiled only: they need a device.
android_classes="${CHATVAULT_ANDROID_CLASSES:-}"
[ -f "$android_classes/android-all.jar" ] || { echo "CHATVAULT_ANDROID_CLASSES has no android-all.jar: run scripts/test.sh, which fetches it" >&2; exit 1; }
android_cp="$(printf '%s:' "$android_classes"/*.jar)$jna:$coroutines"
android_out=target/android-compile
rm -rf "$android_out" && mkdir -p "$android_out"
rc=0
"$kotlinc" -Werror -jvm-target 17 -cp "$android_cp" -d "$android_out" \
    target/bindings/kotlin-android/org/chatvault/ffi/*.kt \
    "$src"/main/kotlin/org/chatvault/*.kt "$src"/main/kotlin/org/chatvault/android/*.kt >"$android_out.log" 2>&1 || rc=$?
grep -v "^warning: unable to find kotlin-stdlib.jar" "$android_out.log" || true
[ $rc -eq 0 ] || { echo "kotlinc failed on the Android sources" >&2; exit 1; }
echo "android: $(cd "$src/main/kotlin/org/chatvault/android" && echo *.kt) compiled against $(cd "$android_classes" && echo *.jar) (-Werror)"
cargo build -q --workspace --all-targets --locked  # as scripts/test.sh built it: nothing to rebuild
java -Djna.library.path="$target_dir/debug" -Dchatvault.cli="$target_dir/debug/chatvault" \
    -cp "$out/classes:$jna:$coroutines:$tools/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar" \
    org.chatvault.JvmTestsKt
