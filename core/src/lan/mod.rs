//! Phone → PC over the local network (see `docs/PROTOCOL.md`).
//!
//! The PC runs a receiver (`chatvault serve`, [`receiver`], behind the `receiver` feature):
//! HTTP/1.1 over TLS with a persistent self-signed [`Identity`]; each paired phone gets an
//! ordinary repository under the receiver's folder and reaches it through the storage API
//! ([`crate::storage::LanStorage`], a `lan://HOST:PORT?pin=FINGERPRINT` location).
//!
//! Both sides pin each other's certificate fingerprint ([`tls`]); a phone becomes known to a
//! receiver by [`pairing`]: the one-time secret of the receiver's QR code, or its short
//! numeric code through SPAKE2 bound to both fingerprints. Discovery ([`discovery`], behind
//! the `discovery` feature) advertises and browses `_chatvault._tcp` by mDNS; phones use the
//! platform's own discovery and hand the address in.

pub mod pairing;

#[cfg(feature = "discovery")]
pub mod discovery;
#[cfg(feature = "receiver")]
pub mod receiver;

pub use crate::net::error::LanError;
pub use crate::net::identity::{Fingerprint, Identity};
pub use crate::net::{private_file, protocol::*, tls};
pub use pairing::{pair, Paired, PairingMethod, PairingUri};
