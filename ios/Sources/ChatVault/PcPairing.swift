// Phone → PC over Wi-Fi: pairing with a PC running `chatvault serve`.
import ChatVaultFFI
import Foundation

/// Pairs this phone with a PC. The phone's identity is PEM text made once by `newIdentity`
/// and kept in the Keychain; the PC registers its certificate when pairing, and the phone
/// pins the PC's. Then `Vault.openOnPc` / `Vault.createOnPc` reach the phone's repository on
/// that PC. Failures: `ChatVaultError.AccessDenied` (wrong or used code, another PC on that
/// address), `ChatVaultError.Unreachable` (not on the same network, a firewall, guest Wi-Fi
/// isolating devices).
public enum PcPairing {
    /// A new identity for this phone (PEM: certificate and private key).
    public static func newIdentity(deviceName: String) throws -> String {
        try newLanIdentity(deviceName: deviceName)
    }

    /// The identity's fingerprint, to show beside the PC's.
    public static func fingerprint(identityPem: String) throws -> String {
        try lanIdentityFingerprint(identityPem: identityPem)
    }

    /// Pairs by the QR code the PC shows (its `chatvault://pair?…` text).
    public static func pairByQr(uri: String, identityPem: String, deviceName: String) async throws -> LanPairing {
        try await runJob { _ in try pairLanUri(uri: uri, identityPem: identityPem, deviceName: deviceName) }
    }

    /// Pairs by the PC's `address` (`host:port`, from `discoverPcs()` or typed) and the
    /// numeric `code` it shows.
    public static func pairByCode(address: String, code: String, identityPem: String, deviceName: String) async throws -> LanPairing {
        try await runJob { _ in
            try pairLanCode(address: address, code: code, identityPem: identityPem, deviceName: deviceName)
        }
    }
}
