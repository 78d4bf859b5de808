#!/usr/bin/env bash
# Builds ChatVaultFFI.xcframework (device + simulator) and the Swift bindings. macOS only:
# needs Xcode and `rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios`.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build -p chatvault-ffi --profile mobile --target "$t"
done
# Bindings from an unstripped host build, with the pinned uniffi-bindgen.
./scripts/bindgen.sh target/bindings
cp target/bindings/swift/ChatVaultFFI.swift ios/Sources/ChatVaultFFI/
headers=target/ios-headers
rm -rf "$headers" && mkdir -p "$headers"
cp target/bindings/swift/ChatVaultFFIFFI.h "$headers/"
cp target/bindings/swift/ChatVaultFFIFFI.modulemap "$headers/module.modulemap"
mkdir -p target/ios-sim
lipo -create target/aarch64-apple-ios-sim/mobile/libchatvault_ffi.a target/x86_64-apple-ios/mobile/libchatvault_ffi.a \
    -output target/ios-sim/libchatvault_ffi.a
rm -rf ios/ChatVaultFFI.xcframework
xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/mobile/libchatvault_ffi.a -headers "$headers" \
    -library target/ios-sim/libchatvault_ffi.a -headers "$headers" \
    -output ios/ChatVaultFFI.xcframework
echo "built ios/ChatVaultFFI.xcframework"
