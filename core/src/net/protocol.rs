//! Facts of the LAN protocol both ends share (`docs/PROTOCOL.md`): the service type,
//! the default port and the API version.

/// The mDNS service type of receivers.
pub const SERVICE_TYPE: &str = "_chatvault._tcp.local.";
/// The port a receiver listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7459;
/// The protocol's version, the first segment of every API path.
pub const API: &str = "/v1";
