//! A TCP proxy on loopback that cuts connections at random byte offsets, for testing what
//! a dropped Wi-Fi connection does to a transfer. Counts the bytes it forwarded each way.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A running proxy (stops accepting when dropped; open connections run out by themselves).
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: SocketAddr,
    /// Cut each connection after a random number of bytes (both directions) below this;
    /// 0: never cut.
    cut_below: AtomicU64,
    /// Bytes (both directions, all connections) before the link goes down for good.
    link_budget: Mutex<u64>,
    rng: Mutex<SmallRng>,
    up: AtomicU64,
    down: AtomicU64,
    cuts: AtomicU64,
    stop: AtomicBool,
}

impl FaultProxy {
    /// Forwards to `upstream`; connections are cut at random offsets below `cut_below`
    /// bytes (0: never), drawn from a generator seeded with `seed`.
    pub fn start(upstream: SocketAddr, cut_below: u64, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            cut_below: AtomicU64::new(cut_below),
            link_budget: Mutex::new(u64::MAX),
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let s = s.clone();
                std::thread::spawn(move || relay(&s, client));
            }
        });
        FaultProxy { addr, shared }
    }

    /// Changes the cutting (0: forward faithfully).
    pub fn set_cut_below(&self, bytes: u64) {
        self.shared.cut_below.store(bytes, Ordering::SeqCst);
    }

    /// The link goes down (every connection cut, new ones closed) after `bytes` more
    /// bytes; `None`: up.
    pub fn set_link_budget(&self, bytes: Option<u64>) {
        *self.shared.link_budget.lock().unwrap() = bytes.unwrap_or(u64::MAX);
    }

    /// Bytes forwarded client → server so far.
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Bytes forwarded server → client so far.
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay(s: &Arc<Shared>, client: TcpStream) {
    let Ok(server) = TcpStream::connect(s.upstream) else {
        return;
    };
    let below = s.cut_below.load(Ordering::SeqCst);
    let limit = if below == 0 {
        u64::MAX
    } else {
        s.rng.lock().unwrap().random_range(0..below)
    };
    let budget = Arc::new(Mutex::new(limit));
    let pipe = |mut from: TcpStream, mut to: TcpStream, counter: &'static str| {
        let s = s.clone();
        let budget = budget.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let send = {
                    let mut left = budget.lock().unwrap();
                    let mut link = s.link_budget.lock().unwrap();
                    let send = (n as u64).min(*left).min(*link);
                    if *left != u64::MAX {
                        *left -= send;
                    }
                    if *link != u64::MAX {
                        *link -= send;
                    }
                    send as usize
                };
                if send > 0 && to.write_all(&buf[..send]).is_err() {
                    break;
                }
                let c = if counter == "up" { &s.up } else { &s.down };
                c.fetch_add(send as u64, Ordering::SeqCst);
                if send < n {
                    // The budget ran out inside this read: the link drops.
                    s.cuts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        })
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let a = pipe(client, server, "up");
    let b = pipe(s2, c2, "down");
    let _ = a.join();
    let _ = b.join();
}
