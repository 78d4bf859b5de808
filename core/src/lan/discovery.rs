//! Finding receivers on the local network by mDNS (`_chatvault._tcp`), on the PC. Phones
//! use the platform's discovery (Android NsdManager, iOS NWBrowser) and hand the address
//! to the engine; typing an address always works too.
//!
//! A receiver's TXT record carries its fingerprint (`fp`) and protocol version (`v`); a
//! phone still pins the fingerprint learned when pairing, so a spoofed advertisement leads
//! nowhere.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

use super::{Fingerprint, LanError, SERVICE_TYPE};

/// A running advertisement; dropping it withdraws it.
pub struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
        let _ = self.daemon.shutdown();
    }
}

fn mdns_error(e: mdns_sd::Error) -> LanError {
    LanError::Protocol(format!("mDNS: {e}"))
}

/// Advertises a receiver called `name` on `port` with its fingerprint, on every interface.
pub fn advertise(
    name: &str,
    port: u16,
    fingerprint: &Fingerprint,
) -> Result<Advertisement, LanError> {
    let daemon = ServiceDaemon::new().map_err(mdns_error)?;
    let host = format!(
        "{}.local.",
        super::receiver::devices::folder_name(&gethostname::gethostname().to_string_lossy())
    );
    let fp = fingerprint.to_hex();
    let properties = [("fp", fp.as_str()), ("v", "1")];
    let info = ServiceInfo::new(SERVICE_TYPE, name, &host, (), port, &properties[..])
        .map_err(mdns_error)?
        .enable_addr_auto();
    let fullname = info.get_fullname().to_string();
    daemon.register(info).map_err(mdns_error)?;
    Ok(Advertisement { daemon, fullname })
}

/// A receiver found by browsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its advertised name.
    pub name: String,
    /// Where it listens (`host:port`), IPv4 first.
    pub addresses: Vec<String>,
    /// Its advertised fingerprint.
    pub fingerprint: Option<Fingerprint>,
}

/// Browses for receivers for `wait`.
pub fn browse(wait: Duration) -> Result<Vec<Found>, LanError> {
    let daemon = ServiceDaemon::new().map_err(mdns_error)?;
    let events = daemon.browse(SERVICE_TYPE).map_err(mdns_error)?;
    let deadline = Instant::now() + wait;
    let mut found: Vec<Found> = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(event) = events.recv_timeout(left) else {
            break;
        };
        if let ServiceEvent::ServiceResolved(service) = event {
            let mut ips: Vec<IpAddr> = service
                .get_addresses()
                .iter()
                .map(|a| a.to_ip_addr())
                .collect();
            ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
            let port = service.get_port();
            let addresses = ips.iter().map(|ip| socket_text(*ip, port)).collect();
            let name = service
                .get_fullname()
                .strip_suffix(&format!(".{SERVICE_TYPE}"))
                .unwrap_or(service.get_fullname())
                .replace("\\032", " ");
            let fingerprint = service
                .get_property_val_str("fp")
                .and_then(|f| Fingerprint::parse(f).ok());
            let entry = Found {
                name,
                addresses,
                fingerprint,
            };
            match found.iter_mut().find(|f| f.name == entry.name) {
                Some(f) => *f = entry,
                None => found.push(entry),
            }
        }
    }
    let _ = daemon.stop_browse(SERVICE_TYPE);
    let _ = daemon.shutdown();
    Ok(found)
}

fn socket_text(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// This machine's addresses a phone could reach (not loopback), IPv4 first; loopback only
/// when there is nothing else.
pub fn local_addresses(port: u16) -> Vec<String> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
        .collect();
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    ips.dedup();
    if ips.is_empty() {
        ips.push(IpAddr::from([127, 0, 0, 1]));
    }
    ips.into_iter().map(|ip| socket_text(ip, port)).collect()
}
