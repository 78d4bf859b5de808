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
mod store;

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};

pub use devices::{Device, Registry};

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
    /// An idle or stalled connection is dropped after this long.
    pub idle_timeout: Duration,
    /// Keep devices' repositories at this storage location (`LOCATION/<folder>`) instead of
    /// under `dir`: an S3 bucket on a Garage cluster, a WebDAV server.
    pub store: Option<crate::storage::Location>,
    /// Credentials for `store`.
    pub store_access: crate::storage::Access,
}

impl ReceiverOptions {
    /// Defaults for `dir`: named after this machine, 1 GiB + 1 MiB objects, no quota.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ReceiverOptions {
            dir: dir.into(),
            name: gethostname::gethostname().to_string_lossy().into_owned(),
            max_object_bytes: (1 << 30) + (1 << 20),
            quota_bytes: None,
            max_connections: 64,
            idle_timeout: Duration::from_secs(120),
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
    connections: AtomicUsize,
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
                options,
                fingerprint,
                tls,
                registry: Mutex::new(registry),
                pairing: Mutex::new(pairing),
                quotas: quota::Quotas::default(),
                seen: Mutex::new(Default::default()),
                remote: Mutex::new(HashMap::new()),
                connections: AtomicUsize::new(0),
                events,
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

    /// Serves connections from `listener` until the process ends.
    pub fn serve(&self, listener: TcpListener) -> Result<(), LanError> {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let shared = self.shared.clone();
            if shared.connections.fetch_add(1, Ordering::SeqCst) >= shared.options.max_connections {
                shared.connections.fetch_sub(1, Ordering::SeqCst);
                log::warn!(
                    "too many connections; closing one from {:?}",
                    stream.peer_addr()
                );
                continue;
            }
            let spawned = std::thread::Builder::new()
                .name("chatvault-conn".into())
                .spawn(move || {
                    if let Err(e) = connection(&shared, stream) {
                        log::debug!("connection ended: {e}");
                    }
                    shared.connections.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                log::warn!("cannot start a connection thread: {e}");
                self.shared.connections.fetch_sub(1, Ordering::SeqCst);
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

/// Time for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One phone connection: handshake (a client certificate is required), then requests.
fn connection(shared: &Arc<Shared>, tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    // A connection that does not finish its handshake soon is dropped, so idle sockets
    // cannot hold the connection slots.
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    tcp.set_write_timeout(Some(shared.options.idle_timeout))?;
    let conn = ServerConnection::new(shared.tls.clone()).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    stream
        .sock
        .set_read_timeout(Some(shared.options.idle_timeout))?;
    let peer = stream
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| Fingerprint::of_certificate(c))
        .ok_or_else(|| std::io::Error::other("no client certificate"))?;
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
