//! A repository kept by a ChatVault receiver on the local network (`chatvault serve`):
//! the storage operations as HTTP requests over mutually pinned TLS (`docs/PROTOCOL.md`).
//! The receiver keeps each paired device's objects as an ordinary local repository.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::location::bad;
use super::{validate_name, Access, ObjectInfo, ObjectKind, Storage, StorageError};
use crate::net::error::LanError;
use crate::net::http::{
    byte_range, content_length, error_text, ranged_body, read_body, Http, HttpOptions,
};
use crate::net::identity::{Fingerprint, Identity};
use crate::net::protocol::API;
use crate::net::tls;

/// Where a receiver is and who this device is.
#[derive(Clone, Debug)]
pub struct LanConfig {
    /// `host:port` (IPv6 in brackets).
    pub address: String,
    /// The receiver's certificate fingerprint, learned when pairing.
    pub pin: Fingerprint,
    /// This device's identity (its certificate is what the receiver registered).
    pub identity: Identity,
    /// Client settings.
    pub http: HttpOptions,
}

impl LanConfig {
    /// The location text of this receiver: `lan://HOST:PORT?pin=FINGERPRINT`.
    pub fn location(&self) -> String {
        location_of(&self.address, &self.pin)
    }
}

/// `lan://HOST:PORT?pin=FINGERPRINT`.
pub fn location_of(address: &str, pin: &Fingerprint) -> String {
    format!("lan://{address}?pin={}", pin.to_hex())
}

impl LanConfig {
    /// The settings of a `lan://HOST:PORT?pin=FINGERPRINT` location, with this device's
    /// identity and retry time from `access`. `text` names the location in errors.
    pub(super) fn from_url(
        text: &str,
        url: &url::Url,
        access: &Access,
    ) -> Result<LanConfig, StorageError> {
        let (address, pin) = address_and_pin(text, url).map_err(|e| bad(text, e.to_string()))?;
        let identity = access.lan_identity.clone().ok_or_else(|| {
            bad(
                text,
                "this device has no LAN identity yet: pair it with the receiver first",
            )
        })?;
        let defaults = lan_http_options();
        Ok(LanConfig {
            address,
            pin,
            identity,
            http: HttpOptions {
                retry_for: access.lan_retry_for.unwrap_or(defaults.retry_for),
                ..defaults
            },
        })
    }
}

/// The address (`host:port`) and pin of a `lan://HOST:PORT?pin=FINGERPRINT` URL.
fn address_and_pin(text: &str, url: &url::Url) -> Result<(String, Fingerprint), LanError> {
    let bad = |reason: &str| LanError::BadAddress {
        text: text.chars().take(120).collect(),
        reason: reason.into(),
    };
    if url.scheme() != "lan" {
        return Err(bad("expected lan://HOST:PORT?pin=FINGERPRINT"));
    }
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => return Err(bad("no host")),
    };
    let port = url.port().unwrap_or(crate::net::protocol::DEFAULT_PORT);
    let pin = url
        .query_pairs()
        .find(|(k, _)| k == "pin")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            bad("no pin=FINGERPRINT: pair first (`chatvault pair`), it prints the location")
        })?;
    Ok((format!("{host}:{port}"), Fingerprint::parse(&pin)?))
}

/// The name of a kind in API paths.
pub(crate) fn kind_segment(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Config => "config",
        other => other.dir(),
    }
}

/// HTTP settings for the LAN: quick to notice a receiver that is gone, patient with a
/// network that drops for a moment (a phone switching access points).
pub fn lan_http_options() -> HttpOptions {
    HttpOptions {
        ca_pem: None,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(300),
        retry_for: Duration::from_secs(60),
        max_attempts: 12,
    }
}

/// Storage on a paired receiver.
pub struct LanStorage {
    http: Http,
    base: String,
    location: String,
}

impl fmt::Debug for LanStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LanStorage")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Listed {
    name: String,
    size: u64,
}

impl LanStorage {
    /// A client for the receiver in `config` (nothing is sent until the first operation).
    pub fn new(config: LanConfig) -> Result<Self, StorageError> {
        let location = config.location();
        let tls = tls::client_config(&config.identity, tls::ReceiverVerifier::pinned(config.pin))
            .map_err(|e| StorageError::backend("open", &location, e.to_string()))?;
        Ok(LanStorage {
            http: Http::receiver(&location, config.http, tls),
            base: format!("https://{}{API}/objects", config.address),
            location,
        })
    }

    fn url(&self, kind: ObjectKind, name: &str) -> Result<String, StorageError> {
        validate_name(kind, name)?;
        Ok(format!("{}/{}/{name}", self.base, kind_segment(kind)))
    }

    /// The error for an answer that is not success.
    fn failure(&self, op: &'static str, object: &str, status: u16, text: &str) -> StorageError {
        // The receiver explains itself as {"error": "…"}.
        let text: String = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string())
            .chars()
            .take(300)
            .collect();
        match status {
            401 | 403 => StorageError::Denied {
                location: self.location.clone(),
                reason: LanError::NotPaired.to_string(),
            },
            413 => {
                StorageError::backend(op, object, format!("the receiver refused the size: {text}"))
            }
            507 => StorageError::backend(op, object, format!("no room on the receiver: {text}")),
            _ => StorageError::backend(op, object, format!("receiver answered {status}: {text}")),
        }
    }
}

impl Storage for LanStorage {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn put(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<(), StorageError> {
        let url = self.url(kind, name)?;
        let object = kind.path_of(name);
        let r = self.http.send("put", &object, |a| a.put(&url).send(data))?;
        match r.status().as_u16() {
            200..=299 => Ok(()),
            s => Err(self.failure("put", &object, s, &error_text(r))),
        }
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StorageError> {
        let url = self.url(kind, name)?;
        let object = kind.path_of(name);
        let r = self.http.send("get", &object, |a| a.get(&url).call())?;
        match r.status().as_u16() {
            200 => Ok(read_body("get", &object, r)?),
            404 => Err(StorageError::not_found(kind, name)),
            s => Err(self.failure("get", &object, s, &error_text(r))),
        }
    }

    fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let Some(range) = byte_range(offset, len) else {
            return Ok(Vec::new());
        };
        let url = self.url(kind, name)?;
        let object = kind.path_of(name);
        let r = self.http.send_ranged(&object, &url, &range)?;
        match r.status().as_u16() {
            200 | 206 | 416 => Ok(ranged_body(&object, r, offset, len)?),
            404 => Err(StorageError::not_found(kind, name)),
            s => Err(self.failure("get", &object, s, &error_text(r))),
        }
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StorageError> {
        let url = self.url(kind, name)?;
        let object = kind.path_of(name);
        let r = self.http.send("stat", &object, |a| a.head(&url).call())?;
        match r.status().as_u16() {
            200 => Ok(Some(content_length(&r))),
            404 => Ok(None),
            s => Err(self.failure("stat", &object, s, "")),
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StorageError> {
        let url = format!("{}/{}/", self.base, kind_segment(kind));
        let r = self.http.send("list", kind.dir(), |a| a.get(&url).call())?;
        match r.status().as_u16() {
            200 => {
                let body = read_body("list", kind.dir(), r)?;
                let listed: Vec<Listed> = serde_json::from_slice(&body).map_err(|e| {
                    StorageError::backend("list", kind.dir(), format!("not a listing: {e}"))
                })?;
                Ok(listed
                    .into_iter()
                    .filter(|l| validate_name(kind, &l.name).is_ok())
                    .map(|l| ObjectInfo {
                        name: l.name,
                        size: l.size,
                    })
                    .collect())
            }
            s => Err(self.failure("list", kind.dir(), s, &error_text(r))),
        }
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StorageError> {
        let url = self.url(kind, name)?;
        let object = kind.path_of(name);
        let r = self
            .http
            .send("delete", &object, |a| a.delete(&url).call())?;
        match r.status().as_u16() {
            200..=299 | 404 => Ok(()),
            s => Err(self.failure("delete", &object, s, &error_text(r))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_location(text: &str) -> Result<(String, Fingerprint), LanError> {
        let url = url::Url::parse(text).map_err(|e| LanError::Protocol(e.to_string()))?;
        address_and_pin(text, &url)
    }

    #[test]
    fn locations_round_trip() {
        let pin = Identity::generate("r").unwrap().fingerprint();
        for address in ["192.168.1.5:7459", "[fe80::1]:9000", "pc.local:7459"] {
            let text = location_of(address, &pin);
            assert_eq!(parse_location(&text).unwrap(), (address.to_string(), pin));
        }
        assert!(parse_location("lan://192.168.1.5:7459").is_err());
        assert!(parse_location("https://x?pin=00").is_err());
        assert!(parse_location("lan://x?pin=zz").is_err());
    }
}
