//! Phone → PC over Wi-Fi: the device's identity and pairing with a `chatvault serve`
//! receiver. The repository on the receiver is then opened with `ChatVault.openRemote`
//! (location `lan://…` from [`LanPairing`], identity in [`crate::entry::RemoteAccess`]).

use chatvault_core::lan::{self, Identity, LanError, PairingMethod, PairingUri};

use crate::error::{ChatVaultError, Result};

impl From<LanError> for ChatVaultError {
    fn from(e: LanError) -> Self {
        let details = e.to_string();
        match e {
            LanError::Unreachable { .. } => ChatVaultError::Unreachable { details },
            LanError::WrongReceiver { .. } | LanError::PairingRefused(_) | LanError::NotPaired => {
                ChatVaultError::AccessDenied { details }
            }
            LanError::BadAddress { .. } | LanError::Identity(_) => {
                ChatVaultError::InvalidArgument { details }
            }
            LanError::Protocol(_) | LanError::Io { .. } => ChatVaultError::Storage { details },
        }
    }
}

/// What pairing with a receiver gave: keep `location` with the repository settings.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LanPairing {
    /// The repository location on the receiver (`lan://HOST:PORT?pin=…`), for `openRemote`.
    pub location: String,
    /// The receiver's name (the PC's).
    pub receiver_name: String,
    /// The receiver's identity (hex SHA-256 of its certificate), pinned in `location`.
    pub receiver_fingerprint: String,
    /// The folder the receiver keeps this device's repository in.
    pub folder: String,
}

impl From<lan::Paired> for LanPairing {
    fn from(p: lan::Paired) -> Self {
        LanPairing {
            location: p.location,
            receiver_name: p.receiver_name,
            receiver_fingerprint: p.receiver.to_hex(),
            folder: p.device,
        }
    }
}

/// A new identity for this device on the local network: PEM text (certificate and private
/// key). Make it once, keep it in the platform keystore, give it to every pairing and to
/// `RemoteAccess.lanIdentityPem`.
#[uniffi::export]
pub fn new_lan_identity(device_name: String) -> Result<String> {
    Ok(Identity::generate(&device_name)?.to_pem().to_string())
}

/// The identity's fingerprint (hex), to show next to the PC's when pairing.
#[uniffi::export]
pub fn lan_identity_fingerprint(identity_pem: String) -> Result<String> {
    Ok(Identity::from_pem(&identity_pem)?.fingerprint().to_hex())
}

/// Pairs with a receiver by its QR code (the `chatvault://pair?…` text it encodes).
/// Blocking: call it off the main thread.
#[uniffi::export]
pub fn pair_lan_uri(uri: String, identity_pem: String, device_name: String) -> Result<LanPairing> {
    let method = PairingMethod::Uri(PairingUri::parse(&uri)?);
    Ok(lan::pair(&method, &Identity::from_pem(&identity_pem)?, &device_name)?.into())
}

/// Pairs with a receiver by its address (`host:port`, from discovery or typed) and the
/// numeric code it shows. Blocking: call it off the main thread.
#[uniffi::export]
pub fn pair_lan_code(
    address: String,
    code: String,
    identity_pem: String,
    device_name: String,
) -> Result<LanPairing> {
    let method = PairingMethod::Code {
        address,
        code: lan::pairing::clean_code(&code),
    };
    Ok(lan::pair(&method, &Identity::from_pem(&identity_pem)?, &device_name)?.into())
}
