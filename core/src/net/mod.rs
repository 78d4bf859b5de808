//! The network layer below storage and the LAN: TLS with pinned self-signed certificates
//! ([`tls`]), device identities ([`identity`]), the HTTP client the network backends and
//! pairing share ([`http`]), the LAN protocol's shared facts ([`protocol`]) and its errors
//! ([`error`]), and files only their owner reads ([`private_file`]).
//!
//! `net` imports neither `storage` nor `lan`; both stand on it.

pub mod error;
pub mod http;
pub mod identity;
pub mod private_file;
pub mod protocol;
pub mod tls;
