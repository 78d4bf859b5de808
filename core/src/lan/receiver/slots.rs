//! Connection slots: who may hold a connection thread, and for how long.
//!
//! Before its handshake ends a connection is anyone's; after it, its certificate says
//! whether it is a paired device. The slots keep hostile neighbours from starving paired
//! phones:
//! * at most `max_connections` in all, of which `paired_reserved` only paired devices may
//!   use: connections not (yet) known as paired — handshaking or unpaired — get the rest;
//! * at most `max_per_address` of those from one IP address;
//! * at most `max_unpaired` handshaken connections whose certificate is not paired (they
//!   reach info and pairing only, and are dropped after `unpaired_idle_timeout`);
//! * when the non-paired share is full, a new connection takes a slot from the address
//!   holding the most (when it holds at least two more than the newcomer's), else the slot
//!   of the oldest non-paired one that has held it for [`EVICTABLE_AFTER`] (a phone's
//!   handshake takes milliseconds; what is still handshaking after that is slow or
//!   hostile), and is refused when there is none.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;

/// A non-paired connection older than this may lose its slot to a new connection.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// What a connection is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Still in its TLS handshake.
    Handshake,
    /// Handshaken with a certificate that is not a paired device.
    Unpaired,
    /// A paired device.
    Paired,
}

struct Slot {
    addr: IpAddr,
    class: Class,
    since: Instant,
    /// A handle on the socket, to end the connection when its slot is taken.
    sock: Option<TcpStream>,
}

/// The limits (from [`super::ReceiverOptions`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub paired_reserved: usize,
    pub max_per_address: usize,
    pub max_unpaired: usize,
}

/// Counts of what the slots saw, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotStats {
    /// Connections admitted.
    pub admitted: u64,
    /// Connections refused at once (no slot).
    pub refused: u64,
    /// Connections that lost their slot to a newer one.
    pub evicted: u64,
    /// Connections whose handshake did not end in time.
    pub handshake_timeouts: u64,
    /// Handshakes that ended as a paired device.
    pub paired: u64,
    /// Handshakes that ended with a certificate that is not paired.
    pub unpaired: u64,
}

#[derive(Default)]
struct Table {
    next: u64,
    slots: HashMap<u64, Slot>,
    stats: SlotStats,
}

/// The receiver's connection slots.
pub(crate) struct Slots {
    limits: Limits,
    table: Mutex<Table>,
}

impl Table {
    fn non_paired(&self) -> impl Iterator<Item = (&u64, &Slot)> {
        self.slots.iter().filter(|(_, s)| s.class != Class::Paired)
    }

    /// Ends the oldest slot that `which` accepts and that is old enough; whether one was.
    fn evict_oldest(&mut self, which: impl Fn(&Slot) -> bool) -> bool {
        let victim = self
            .slots
            .iter()
            .filter(|(_, s)| which(s) && s.since.elapsed() >= EVICTABLE_AFTER)
            .min_by_key(|(_, s)| s.since)
            .map(|(id, _)| *id);
        let Some(id) = victim else { return false };
        self.end(id);
        true
    }
}

impl Table {
    /// Makes room for a new connection from `addr`, which holds `mine` non-paired slots:
    /// first from the address holding the most, when it holds more than `mine + 1` (so
    /// many addresses of a few connections each cannot keep out one with none, however
    /// fast they reconnect), else the oldest non-paired slot held for over
    /// [`EVICTABLE_AFTER`]. Whether room was made.
    fn evict_for(&mut self, addr: IpAddr, mine: usize) -> bool {
        let mut per: HashMap<IpAddr, usize> = HashMap::new();
        for (_, s) in self.non_paired() {
            *per.entry(s.addr).or_default() += 1;
        }
        let heaviest = per
            .into_iter()
            .filter(|(a, _)| *a != addr)
            .max_by_key(|(_, n)| *n);
        if let Some((heavy, n)) = heaviest {
            if n > mine + 1 {
                let victim = self
                    .non_paired()
                    .filter(|(_, s)| s.addr == heavy)
                    .min_by_key(|(_, s)| s.since)
                    .map(|(id, _)| *id);
                if let Some(id) = victim {
                    self.end(id);
                    return true;
                }
            }
        }
        self.evict_oldest(|s| s.class != Class::Paired)
    }

    fn end(&mut self, id: u64) {
        if let Some(slot) = self.slots.remove(&id) {
            if let Some(sock) = slot.sock {
                let _ = sock.shutdown(Shutdown::Both);
            }
        }
        self.stats.evicted += 1;
    }
}

impl Slots {
    pub fn new(limits: Limits) -> Self {
        Slots {
            limits,
            table: Mutex::new(Table::default()),
        }
    }

    /// A slot for a new connection from `addr`, or `None` (close it).
    pub fn admit(&self, addr: IpAddr, sock: Option<TcpStream>) -> Option<u64> {
        let l = self.limits;
        let mut t = lock(&self.table);
        let from_addr = t.non_paired().filter(|(_, s)| s.addr == addr).count();
        if from_addr >= l.max_per_address {
            t.stats.refused += 1;
            return None;
        }
        let share = l.max_connections.saturating_sub(l.paired_reserved);
        let full = t.non_paired().count() >= share || t.slots.len() >= l.max_connections;
        if full && !t.evict_for(addr, from_addr) {
            t.stats.refused += 1;
            return None;
        }
        t.next += 1;
        let id = t.next;
        t.slots.insert(
            id,
            Slot {
                addr,
                class: Class::Handshake,
                since: Instant::now(),
                sock,
            },
        );
        t.stats.admitted += 1;
        Some(id)
    }

    /// The handshake of `id` ended; whether the connection keeps its slot as `class`.
    pub fn handshaken(&self, id: u64, class: Class) -> bool {
        let mut t = lock(&self.table);
        if !t.slots.contains_key(&id) {
            return false; // evicted meanwhile
        }
        match class {
            Class::Paired => t.stats.paired += 1,
            _ => t.stats.unpaired += 1,
        }
        if class == Class::Unpaired {
            let unpaired = t
                .slots
                .values()
                .filter(|s| s.class == Class::Unpaired)
                .count();
            if unpaired >= self.limits.max_unpaired
                && !t.evict_oldest(|s| s.class == Class::Unpaired)
            {
                t.slots.remove(&id);
                t.stats.refused += 1;
                return false;
            }
        }
        match t.slots.get_mut(&id) {
            Some(slot) => {
                slot.class = class;
                slot.since = Instant::now();
                if class == Class::Paired {
                    slot.sock = None;
                }
                true
            }
            None => false,
        }
    }

    /// A handshake ran out of time.
    pub fn handshake_timed_out(&self) {
        lock(&self.table).stats.handshake_timeouts += 1;
    }

    /// The connection `id` ended.
    pub fn release(&self, id: u64) {
        lock(&self.table).slots.remove(&id);
    }

    /// What the slots saw so far.
    pub fn stats(&self) -> SlotStats {
        lock(&self.table).stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_addresses_and_eviction() {
        let slots = Slots::new(Limits {
            max_connections: 6,
            paired_reserved: 2,
            max_per_address: 3,
            max_unpaired: 1,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let phone: IpAddr = "10.0.0.3".parse().unwrap();
        let ids: Vec<u64> = (0..3).map(|_| slots.admit(a, None).unwrap()).collect();
        assert!(slots.admit(a, None).is_none(), "per-address limit");
        let b1 = slots.admit(b, None).unwrap();
        // The non-paired share (4) is full and nothing is old enough to give way, but an
        // address with none takes a slot from the heaviest (a: 3), however young.
        let evicted_for = slots.admit(phone, None).unwrap();
        assert_eq!(slots.stats().evicted, 1);
        slots.release(evicted_for);
        // A paired device's connection leaves the share.
        assert!(slots.handshaken(b1, Class::Paired));
        let p = slots.admit(phone, None).unwrap();
        assert!(slots.handshaken(p, Class::Paired));
        // One unpaired at a time (of a's two left); the second is refused while the first
        // is young.
        let kept = ids
            .iter()
            .filter(|id| slots.handshaken(**id, Class::Unpaired))
            .count();
        assert_eq!(kept, 1);
        let s = slots.stats();
        assert_eq!((s.admitted, s.paired, s.unpaired), (6, 2, 2));
        slots.release(p);
        slots.release(b1);
        assert!(slots.admit(phone, None).is_some());
    }
}
