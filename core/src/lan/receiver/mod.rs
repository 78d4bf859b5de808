//! The PC side of the LAN: `chatvault serve`. Accepts TLS connections from phones, lets
//! unknown certificates pair (and nothing else), and gives each paired phone the storage
//! API over its own folder under the receiver's directory — an ordinary repository the
//! CLI can check, restore and export on the PC.
//!
//! One thread per connection (phones keep a few connections each); bodies stream to disk,
//! so memory does not grow with object size.

mod api;
pub mod devices;
mod http1;
mod pairing_state;
mod quota;
mod slots;
mod store;

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};

pub use devices::{Device, Registry};
pub use slots::SlotStats;
use slots::{Class, Slots};

use super::{tls, Fingerprint, Identity, LanError, PairingUri};
use pairing_state::PairingState;

/// The receiver's own files under its directory.
pub const STATE_FOLDER: &str = ".chatvault-receiver";

/// The state folder of a receiver directory.
pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join(STATE_FOLDER)
}

/// How a receiver runs.
#[derive(Clone, Debug)]
pub struct ReceiverOptions {
    /// Where device repositories and the receiver's state live.
    pub dir: PathBuf,
    /// The name phones show.
    pub name: String,
    /// The largest object accepted (a pack is at most 1 GiB by the format).
    pub max_object_bytes: u64,
    /// At most this many bytes per device, if set.
    pub quota_bytes: Option<u64>,
    /// Connections served at once (more are closed at once).
    pub max_connections: usize,
    /// Of `max_connections`, how many only paired devices may use: connections not known
    /// as paired (still handshaking, or with a certificate that is not paired) share the
    /// rest.
    pub paired_reserved: usize,
    /// Connections not known as paired from one IP address.
    pub max_per_address: usize,
    /// Handshaken connections whose certificate is not a paired device (they reach info
    /// and pairing only).
    pub max_unpaired: usize,
    /// A TLS handshake must end this soon after the connection was accepted (the whole
    /// handshake, however the bytes trickle in).
    pub handshake_timeout: Duration,
    /// An idle or stalled connection of a paired device is dropped after this long.
    pub idle_timeout: Duration,
    /// An idle connection whose certificate is not paired is dropped after this long.
    pub unpaired_idle_timeout: Duration,
    /// Keep devices' repositories at this storage location (`LOCATION/<folder>`) instead of
    /// under `dir`: an S3 bucket on a Garage cluster, a WebDAV server.
    pub store: Option<crate::storage::Location>,
    /// Credentials for `store`.
    pub store_access: crate::storage::Access,
}

impl ReceiverOptions {
    /// Defaults for `dir`: named after this machine, 1 GiB + 1 MiB objects, no quota; 64
    /// connections, 24 of them for paired devices only, 8 not known as paired per address,
    /// 8 unpaired; 10 s for a handshake, 120 s idle for paired devices, 10 s for others.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ReceiverOptions {
            dir: dir.into(),
            name: gethostname::gethostname().to_string_lossy().into_owned(),
            max_object_bytes: (1 << 30) + (1 << 20),
            quota_bytes: None,
            max_connections: 64,
            paired_reserved: 24,
            max_per_address: 8,
            max_unpaired: 8,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            unpaired_idle_timeout: Duration::from_secs(10),
            store: None,
            store_access: crate::storage::Access::default(),
        }
    }
}

/// Something the person at the PC should see.
#[derive(Debug, Clone)]
pub enum ReceiverEvent {
    /// A device paired.
    Paired {
        /// Its record.
        device: Device,
    },
    /// The previous pairing secret and code were used up; these are the current ones.
    NewPairing {
        /// What the QR code holds now.
        uri: PairingUri,
        /// The numeric code now.
        code: String,
    },
    /// Too many wrong codes: pairing by code is off until the receiver restarts.
    CodeLocked,
    /// A paired device connected for the first time since the receiver started.
    Connected {
        /// Its folder.
        folder: String,
    },
}

/// Shared by all connection threads.
struct Shared {
    options: ReceiverOptions,
    fingerprint: Fingerprint,
    tls: Arc<rustls::ServerConfig>,
    registry: Mutex<Registry>,
    pairing: Mutex<PairingState>,
    /// Bytes stored and reserved per device folder (computed on first use).
    quotas: quota::Quotas,
    seen: Mutex<std::collections::HashSet<String>>,
    /// Remote device stores opened so far, by folder.
    remote: Mutex<HashMap<String, Arc<dyn crate::storage::Storage>>>,
    slots: Slots,
    events: Box<dyn Fn(ReceiverEvent) + Send + Sync>,
}

/// A receiver: its identity, registry and pairing state.
pub struct Receiver {
    shared: Arc<Shared>,
}

impl Receiver {
    /// Opens the receiver in `options.dir` (made if missing), its identity made on first use.
    /// `addresses` (`host:port`, best first) go into the pairing URI; `events` hears what
    /// the person at the PC should see.
    pub fn open(
        options: ReceiverOptions,
        addresses: Vec<String>,
        events: Box<dyn Fn(ReceiverEvent) + Send + Sync>,
    ) -> Result<Self, LanError> {
        std::fs::create_dir_all(&options.dir).map_err(|e| LanError::io(&options.dir, e))?;
        let state = state_dir(&options.dir);
        let identity = Identity::load_or_create(&state.join("identity.pem"), &options.name)?;
        let fingerprint = identity.fingerprint();
        let tls = tls::server_config(&identity)?;
        let registry = Registry::load(&state)?;
        let pairing = PairingState::new(addresses, fingerprint, options.name.clone());
        Ok(Receiver {
            shared: Arc::new(Shared {
                fingerprint,
                tls,
                registry: Mutex::new(registry),
                pairing: Mutex::new(pairing),
                quotas: quota::Quotas::default(),
                seen: Mutex::new(Default::default()),
                remote: Mutex::new(HashMap::new()),
                slots: Slots::new(slots::Limits {
                    max_connections: options.max_connections,
                    paired_reserved: options.paired_reserved,
                    max_per_address: options.max_per_address,
                    max_unpaired: options.max_unpaired,
                }),
                events,
                options,
            }),
        })
    }

    /// The receiver's certificate fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.shared.fingerprint
    }

    /// The current pairing URI and numeric code.
    pub fn pairing(&self) -> (PairingUri, String) {
        let p = lock(&self.shared.pairing);
        (p.uri(), p.code().to_string())
    }

    /// What the connection slots saw so far (admitted, refused, evicted, timed out).
    pub fn slot_stats(&self) -> SlotStats {
        self.shared.slots.stats()
    }

    /// Serves connections from `listener` until the process ends.
    pub fn serve(&self, listener: TcpListener) -> Result<(), LanError> {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(peer) = stream.peer_addr() else {
                continue;
            };
            let shared = self.shared.clone();
            let Some(id) = shared.slots.admit(peer.ip(), stream.try_clone().ok()) else {
                log::debug!("no connection slot for {peer}; closed");
                continue;
            };
            let spawned = std::thread::Builder::new()
                .name("chatvault-conn".into())
                .spawn(move || {
                    if let Err(e) = connection(&shared, stream, id) {
                        log::debug!("connection ended: {e}");
                    }
                    shared.slots.release(id);
                });
            if let Err(e) = spawned {
                log::warn!("cannot start a connection thread: {e}");
                self.shared.slots.release(id);
            }
        }
        Ok(())
    }
}

impl Shared {
    /// The repository of the device whose folder is `folder`.
    fn device_store(
        &self,
        folder: &str,
    ) -> Result<store::DeviceStore, crate::storage::StorageError> {
        let Some(location) = &self.options.store else {
            return Ok(store::DeviceStore::Local(
                crate::storage::LocalStorage::new(self.options.dir.join(folder)),
            ));
        };
        let mut remote = lock(&self.remote);
        if let Some(s) = remote.get(folder) {
            return Ok(store::DeviceStore::Remote(s.clone()));
        }
        let opened = location.join(folder)?.open(&self.options.store_access)?;
        remote.insert(folder.to_string(), opened.clone());
        Ok(store::DeviceStore::Remote(opened))
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The TLS handshake, within `timeout` as a whole: each read waits only for what is left,
/// so a peer trickling bytes cannot stretch it.
fn handshake(
    conn: &mut ServerConnection,
    tcp: &mut TcpStream,
    timeout: Duration,
) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    while conn.is_handshaking() {
        while conn.wants_write() {
            tcp.set_write_timeout(Some(left()?))?;
            conn.write_tls(tcp)?;
        }
        if !conn.is_handshaking() {
            break;
        }
        tcp.set_read_timeout(Some(left()?))?;
        if conn.read_tls(tcp)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Err(e) = conn.process_new_packets() {
            // Tell the peer why (an alert), as far as it listens.
            let _ = conn.write_tls(tcp);
            return Err(std::io::Error::other(e));
        }
    }
    while conn.wants_write() {
        tcp.set_write_timeout(Some(left()?))?;
        conn.write_tls(tcp)?;
    }
    Ok(())
}

/// One phone connection in slot `id`: handshake (a client certificate is required), then
/// requests, with the limits of its class.
fn connection(shared: &Arc<Shared>, mut tcp: TcpStream, id: u64) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut conn = ServerConnection::new(shared.tls.clone()).map_err(std::io::Error::other)?;
    if let Err(e) = handshake(&mut conn, &mut tcp, shared.options.handshake_timeout) {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            shared.slots.handshake_timed_out();
        }
        return Err(e);
    }
    let peer = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| Fingerprint::of_certificate(c))
        .ok_or_else(|| std::io::Error::other("no client certificate"))?;
    let paired = {
        let mut registry = lock(&shared.registry);
        if let Err(e) = registry.refresh() {
            log::warn!("reading the device registry: {e}");
        }
        registry.find(&peer).is_some()
    };
    let class = if paired {
        Class::Paired
    } else {
        Class::Unpaired
    };
    if !shared.slots.handshaken(id, class) {
        return Err(std::io::Error::other("no slot left for this connection"));
    }
    let idle = if paired {
        shared.options.idle_timeout
    } else {
        shared.options.unpaired_idle_timeout
    };
    tcp.set_read_timeout(Some(idle))?;
    tcp.set_write_timeout(Some(idle))?;
    let stream = StreamOwned::new(conn, tcp);
    let mut conn = BufReader::with_capacity(256 * 1024, stream);
    requests(shared, &peer, &mut conn)?;
    conn.get_mut().conn.send_close_notify();
    let _ = conn.get_mut().flush_tls();
    Ok(())
}

/// Answers requests on one connection until it closes or must close.
fn requests<S: Read + Write>(
    shared: &Arc<Shared>,
    peer: &Fingerprint,
    conn: &mut BufReader<S>,
) -> std::io::Result<()> {
    loop {
        let request = match http1::read_head(conn) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(http1::HeadError::Bad(why)) => {
                let body = api::error_json(why);
                http1::respond(
                    conn.get_mut(),
                    400,
                    Some("application/json"),
                    &body,
                    true,
                    false,
                )?;
                break;
            }
            Err(http1::HeadError::Io(e)) => return Err(e),
        };
        let keep = api::handle(shared, peer, &request, conn)?;
        if !keep || request.close {
            break;
        }
    }
    Ok(())
}

trait FlushTls {
    fn flush_tls(&mut self) -> std::io::Result<()>;
}

impl FlushTls for StreamOwned<ServerConnection, TcpStream> {
    fn flush_tls(&mut self) -> std::io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
