#!/usr/bin/env bash
# Cross-compiles the engine for Android and generates the Android-flavour bindings, then
# the AAR can be built with Gradle:  (cd android && gradle :chatvault:assembleRelease)
# Needs: the Android NDK (ANDROID_NDK_HOME), `cargo install cargo-ndk`, and
# `rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android`.
# Not run in CI: no Android SDK/NDK can be installed on our machines.
set -euo pipefail
cd "$(dirname "$0")/.."
# Packed relocations (Android's format, read by the loader from API 23; minSdk is 26):
# without them the relocation table alone is about 1 MiB.
RUSTFLAGS="-C link-arg=-Wl,--pack-dyn-relocs=android" \
    cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o android/chatvault/src/main/jniLibs \
    build --profile mobile -p chatvault-ffi
# Bindings come from an unstripped host build (same sources, same UniFFI).
./scripts/bindgen.sh target/bindings
rm -rf android/chatvault/build/generated/uniffi
mkdir -p android/chatvault/build/generated/uniffi
cp -r target/bindings/kotlin-android/* android/chatvault/build/generated/uniffi/
echo "now: (cd android && gradle :chatvault:assembleRelease)"
