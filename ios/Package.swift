// swift-tools-version:5.9
// ChatVault for iOS and macOS. Run ./build-xcframework.sh on a Mac first: it builds
// ChatVaultFFI.xcframework and generates Sources/ChatVaultFFI/ChatVaultFFI.swift.
import PackageDescription

let package = Package(
    name: "ChatVault",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "ChatVault", targets: ["ChatVault"]),
    ],
    targets: [
        // The Rust engine (static library, C header and module map `ChatVaultFFIFFI`).
        .binaryTarget(name: "ChatVaultFFIFFI", path: "ChatVaultFFI.xcframework"),
        // The UniFFI-generated Swift bindings.
        .target(name: "ChatVaultFFI", dependencies: ["ChatVaultFFIFFI"], path: "Sources/ChatVaultFFI"),
        // The idiomatic wrapper apps use.
        .target(name: "ChatVault", dependencies: ["ChatVaultFFI"], path: "Sources/ChatVault"),
    ]
)
