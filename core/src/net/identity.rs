//! A device's TLS identity: a self-signed certificate and its private key, made once and kept.
//! Its fingerprint (SHA-256 of the certificate) is the device's name in the protocol, as in
//! Syncthing and LocalSend: the receiver pins the phone's, the phone pins the receiver's.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use super::error::LanError;

/// SHA-256 of a certificate (DER).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }

    /// Parses 64 hex digits (colons and spaces allowed between them).
    pub fn parse(text: &str) -> Result<Self, LanError> {
        let clean: String = text
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        let bytes = hex::decode(clean.to_ascii_lowercase())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| LanError::BadAddress {
                text: text.chars().take(80).collect(),
                reason: "a fingerprint is 64 hex digits".into(),
            })?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&bytes);
        Ok(Fingerprint(out))
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 16 hex digits in groups of four, for people comparing screens.
    pub fn short(&self) -> String {
        let h = self.to_hex();
        [&h[0..4], &h[4..8], &h[8..12], &h[12..16]].join("-")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.short())
    }
}

/// A certificate and its private key (PKCS#8). The key never leaves the device; on phones
/// it lives in the keystore (the app stores [`Identity::to_pem`]), on PCs in a 0600 file.
#[derive(Clone)]
pub struct Identity {
    cert_der: Vec<u8>,
    key_der: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A new ECDSA P-256 key and a self-signed certificate naming `name`.
    pub fn generate(name: &str) -> Result<Self, LanError> {
        let key = rcgen::KeyPair::generate().map_err(LanError::identity)?;
        let mut params = rcgen::CertificateParams::new(vec!["chatvault".to_string()])
            .map_err(LanError::identity)?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            name.chars().take(64).collect::<String>(),
        );
        let cert = params.self_signed(&key).map_err(LanError::identity)?;
        Ok(Identity {
            cert_der: cert.der().to_vec(),
            key_der: Zeroizing::new(key.serialize_der()),
        })
    }

    /// The certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The private key (PKCS#8 DER).
    pub(crate) fn key_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The certificate's fingerprint: this device's identity.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of_certificate(&self.cert_der)
    }

    /// Certificate and key as PEM text (what `curl --cert` and `openssl` read).
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem::encode_many(&[
            pem::Pem::new("CERTIFICATE", self.cert_der.clone()),
            pem::Pem::new("PRIVATE KEY", self.key_der.to_vec()),
        ]))
    }

    /// Reads what [`Identity::to_pem`] wrote.
    pub fn from_pem(text: &str) -> Result<Self, LanError> {
        let blocks = pem::parse_many(text.as_bytes())
            .map_err(|e| LanError::Identity(format!("the identity file is not PEM: {e}")))?;
        let find = |tag: &str| {
            blocks
                .iter()
                .find(|b| b.tag() == tag)
                .map(|b| b.contents().to_vec())
        };
        match (find("CERTIFICATE"), find("PRIVATE KEY")) {
            (Some(cert_der), Some(key_der)) => Ok(Identity {
                cert_der,
                key_der: Zeroizing::new(key_der),
            }),
            _ => Err(LanError::Identity(
                "the identity file needs a CERTIFICATE and a PRIVATE KEY block".into(),
            )),
        }
    }

    /// Loads the identity kept at `path`, or makes one and keeps it there (mode 0600,
    /// written atomically).
    pub fn load_or_create(path: &Path, name: &str) -> Result<Self, LanError> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_pem(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LanError::io(path, e)),
        }
        let identity = Self::generate(name)?;
        super::private_file::write(path, identity.to_pem().as_bytes())?;
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_fingerprint() {
        let id = Identity::generate("test phone").unwrap();
        let back = Identity::from_pem(&id.to_pem()).unwrap();
        assert_eq!(back.fingerprint(), id.fingerprint());
        assert_eq!(back.key_der(), id.key_der());
        let fp = id.fingerprint();
        assert_eq!(Fingerprint::parse(&fp.to_hex()).unwrap(), fp);
        assert!(Fingerprint::parse("abcd").is_err());
        assert_ne!(Identity::generate("x").unwrap().fingerprint(), fp);
    }
}
