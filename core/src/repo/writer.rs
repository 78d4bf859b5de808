//! The write side of a backup: worker threads compress and seal blobs, fill packs, store
//! each pack as soon as it is full, and checkpoint the index as packs land, so that an
//! interrupted backup leaves finished packs that the next run reuses.
//!
//! Memory is bounded: the job queue holds at most `workers` jobs (a chunk of at most the
//! chunker's maximum, or a batch of small blobs: database pages travel [`BATCH_BLOBS`] at
//! a time, so handing them over costs no more than compressing them), one pack fills at a time and one is being stored by the uploader
//! thread; the worker that fills the pack waits to hand it over (a rendezvous channel)
//! while the others wait to add their blob, and the stored pack's buffer is the next one's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use super::blob::{BlobCodec, BlobKind};
use super::buffers::BufferPool;
use super::crypto::Cipher;
use super::id::Id;
use super::index::{self, IndexedPack};
use super::pack::PackBuilder;
use crate::error::{Error, Result};
use crate::storage::{ObjectKind, Storage};

/// Write an index file after this many packs, or this long after the last one. The packs
/// waiting for it hold their entries, and writing it holds them encoded, compressed and
/// sealed: at 16 packs of 2,000-3,000 database pages that was up to 10 MiB at once (heaptrack,
/// a 3 GB export's full backup); 8 halves it, for twice the (small) index files.
const CHECKPOINT_PACKS: usize = 8;
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);
/// Room reserved in a pack buffer for its sealed header: 45 bytes a blob, 5,800 blobs (an
/// 8 MiB pack of 16 KiB database pages compressed to 3-4 KiB holds 2,000-3,000). Reserved,
/// not touched: only the header's own bytes become resident.
const HEADER_ROOM: usize = 256 * 1024;
/// Blobs of at most this size (database pages) go to the workers in batches ...
const BATCH_BLOB: usize = 16 * 1024;
/// ... of this many (at most 128 KiB a batch).
const BATCH_BLOBS: usize = 8;

/// One blob to seal and pack.
struct Job {
    kind: BlobKind,
    id: Id,
    data: Vec<u8>,
    compress: bool,
    /// `data` is a zstd frame of this many bytes of content ([`BlobWriter::add_frame`]).
    frame_of: Option<u32>,
}

struct Checkpoint {
    pending: Vec<IndexedPack>,
    last: Instant,
    written: Vec<String>,
}

struct Shared {
    storage: Arc<dyn Storage>,
    codec: BlobCodec,
    cipher: Cipher,
    pack_size: usize,
    chunks: Arc<BufferPool>,
    packs: BufferPool,
    current: Mutex<PackBuilder>,
    uploads: Mutex<Option<Sender<PackBuilder>>>,
    checkpoint: Mutex<Checkpoint>,
    error: Mutex<Option<Error>>,
    failed: AtomicBool,
    blobs: AtomicU64,
    raw: AtomicU64,
    stored: AtomicU64,
}

/// What the writer added.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    /// Blobs written.
    pub blobs: u64,
    /// Their plaintext bytes.
    pub raw: u64,
    /// Their stored bytes.
    pub stored: u64,
}

/// A pool of workers that turns blobs into stored packs.
pub struct BlobWriter {
    tx: Option<Sender<Vec<Job>>>,
    /// Small blobs waiting to make a batch.
    batch: Mutex<Vec<Job>>,
    workers: Vec<JoinHandle<()>>,
    uploader: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl BlobWriter {
    /// Starts `threads` workers writing into `storage`.
    pub fn start(
        storage: Arc<dyn Storage>,
        codec: BlobCodec,
        cipher: Cipher,
        pack_size: u32,
        threads: usize,
    ) -> Result<Self> {
        let threads = threads.max(1);
        let (tx, rx) = bounded::<Vec<Job>>(threads);
        let (upload_tx, upload_rx) = bounded::<PackBuilder>(0);
        let shared = Arc::new(Shared {
            storage,
            codec,
            cipher,
            pack_size: pack_size as usize,
            chunks: Arc::new(BufferPool::new(threads * 3 + 2, 2 * 1024 * 1024 + 4096)),
            packs: BufferPool::new(2, pack_size as usize + HEADER_ROOM + 16 * 1024 * 1024),
            current: Mutex::new(PackBuilder::default()),
            uploads: Mutex::new(Some(upload_tx)),
            checkpoint: Mutex::new(Checkpoint {
                pending: Vec::new(),
                last: Instant::now(),
                written: Vec::new(),
            }),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            blobs: AtomicU64::new(0),
            raw: AtomicU64::new(0),
            stored: AtomicU64::new(0),
        });
        let mut workers = Vec::new();
        for n in 0..threads {
            let (rx, shared) = (rx.clone(), shared.clone());
            let handle = std::thread::Builder::new()
                .name(format!("chatvault-writer-{n}"))
                .spawn(move || {
                    for jobs in rx {
                        for job in jobs {
                            if shared.failed.load(Ordering::Relaxed) {
                                break; // drain so the sender never blocks
                            }
                            if let Err(e) = shared.process(job) {
                                shared.fail(e);
                            }
                        }
                    }
                })
                .map_err(|e| Error::internal_from("spawn writer", e))?;
            workers.push(handle);
        }
        let uploader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("chatvault-uploader".into())
                .spawn(move || {
                    for pack in upload_rx {
                        if shared.failed.load(Ordering::Relaxed) {
                            continue;
                        }
                        if let Err(e) = shared
                            .store_pack(pack)
                            .and_then(|()| shared.write_index(false))
                        {
                            shared.fail(e);
                        }
                    }
                })
                .map_err(|e| Error::internal_from("spawn uploader", e))?
        };
        Ok(BlobWriter {
            tx: Some(tx),
            batch: Mutex::new(Vec::with_capacity(BATCH_BLOBS)),
            workers,
            uploader: Some(uploader),
            shared,
        })
    }

    /// The pool that chunk buffers come from and return to: take a buffer, fill it, pass
    /// it to [`BlobWriter::add`] (or give it back if the blob is known).
    pub fn buffers(&self) -> &Arc<BufferPool> {
        &self.shared.chunks
    }

    /// Queues a blob (a small one waits for a batch of them). Blocks while the queue is
    /// full. Fails if a worker failed.
    pub fn add(&self, kind: BlobKind, id: Id, data: Vec<u8>, compress: bool) -> Result<()> {
        self.check()?;
        let small = data.len() <= BATCH_BLOB;
        let job = Job {
            kind,
            id,
            data,
            compress,
            frame_of: None,
        };
        let jobs = if small {
            let mut batch = self.batch.lock().map_err(|_| Error::internal("poisoned"))?;
            batch.push(job);
            if batch.len() < BATCH_BLOBS {
                return Ok(());
            }
            std::mem::replace(&mut *batch, Vec::with_capacity(BATCH_BLOBS))
        } else {
            vec![job]
        };
        self.send(jobs)
    }

    /// Queues a blob already compressed: `frame` is a zstd frame of its `raw_length`
    /// bytes of content (a large tree, compressed as it was encoded).
    pub fn add_frame(&self, kind: BlobKind, id: Id, frame: Vec<u8>, raw_length: u32) -> Result<()> {
        self.check()?;
        self.send(vec![Job {
            kind,
            id,
            data: frame,
            compress: true,
            frame_of: Some(raw_length),
        }])
    }

    fn send(&self, jobs: Vec<Job>) -> Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::internal("writer closed"))?;
        tx.send(jobs).map_err(|_| Error::internal("writer stopped"))
    }

    /// The first worker error, if any.
    pub fn check(&self) -> Result<()> {
        if self.shared.failed.load(Ordering::Relaxed) {
            let e = self
                .shared
                .error
                .lock()
                .map_err(|_| Error::internal("poisoned"))?
                .take();
            return Err(e.unwrap_or_else(|| Error::internal("a writer thread failed")));
        }
        Ok(())
    }

    /// Stops accepting blobs; when `flush`, stores the last partial pack. Always writes an
    /// index file for the packs stored since the last checkpoint. Returns what was written and the names of the index files written.
    pub fn finish(mut self, flush: bool) -> Result<(WriterStats, Vec<String>)> {
        if flush {
            let batch =
                std::mem::take(&mut *self.batch.lock().map_err(|_| Error::internal("poisoned"))?);
            if !batch.is_empty() {
                self.send(batch)?;
            }
        }
        drop(self.tx.take());
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                self.shared
                    .fail(Error::internal("a writer thread panicked"));
            }
        }
        if flush && !self.shared.failed.load(Ordering::Relaxed) {
            let last = std::mem::take(
                &mut *self
                    .shared
                    .current
                    .lock()
                    .map_err(|_| Error::internal("poisoned"))?,
            );
            if !last.is_empty() {
                self.shared.upload(last)?;
            }
        }
        self.stop_uploader();
        self.check()?;
        // Index every stored pack, even when stopping early: the next run reuses them.
        self.shared.write_index(true)?;
        let s = &self.shared;
        let stats = WriterStats {
            blobs: s.blobs.load(Ordering::Relaxed),
            raw: s.raw.load(Ordering::Relaxed),
            stored: s.stored.load(Ordering::Relaxed),
        };
        let written = std::mem::take(
            &mut s
                .checkpoint
                .lock()
                .map_err(|_| Error::internal("poisoned"))?
                .written,
        );
        Ok((stats, written))
    }
}

impl BlobWriter {
    /// Closes the upload queue and waits for the packs in it to be stored.
    fn stop_uploader(&mut self) {
        if let Ok(mut tx) = self.shared.uploads.lock() {
            tx.take();
        }
        if let Some(u) = self.uploader.take() {
            if u.join().is_err() {
                self.shared
                    .fail(Error::internal("the uploader thread panicked"));
            }
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        self.shared.failed.store(true, Ordering::SeqCst);
        drop(self.tx.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        self.stop_uploader();
    }
}

impl Shared {
    fn fail(&self, e: Error) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
        self.failed.store(true, Ordering::SeqCst);
    }

    fn process(&self, job: Job) -> Result<()> {
        let mut sealed = self.chunks.take();
        let raw_len = match job.frame_of {
            Some(raw_len) => {
                self.codec
                    .seal_frame_into(job.kind, &job.id, &job.data, &mut sealed)?;
                raw_len
            }
            None => {
                self.codec
                    .seal_into(job.kind, &job.id, &job.data, job.compress, &mut sealed)?;
                u32::try_from(job.data.len()).map_err(|_| Error::internal("blob too large"))?
            }
        };
        self.chunks.give(job.data);
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.raw.fetch_add(raw_len as u64, Ordering::Relaxed);
        self.stored
            .fetch_add(sealed.len() as u64, Ordering::Relaxed);
        // A pack never grows past its target (so its buffer is never reallocated): a blob
        // that does not fit closes the current pack and starts the next one.
        {
            let mut cur = self
                .current
                .lock()
                .map_err(|_| Error::internal("poisoned"))?;
            if !cur.is_empty() && cur.len() + sealed.len() > self.pack_size {
                // Handed over with the lock held: other workers wait here with one blob
                // each, not with a full pack each; and the uploader gives the buffer of
                // the pack it just stored back to the pool before it takes this one, so
                // the next pack fills that buffer (two pack buffers in all, their pages
                // already in memory).
                self.upload(std::mem::take(&mut *cur))?;
            }
            if cur.is_empty() {
                *cur = PackBuilder::with_buffer(
                    self.packs.take(),
                    self.pack_size.max(sealed.len()) + HEADER_ROOM,
                );
            }
            cur.add(job.kind, job.id, &sealed, raw_len)?;
        }
        self.chunks.give(sealed);
        Ok(())
    }

    /// Hands a full pack to the uploader thread (waits while it is busy with the previous
    /// one), so compression and encryption go on while a pack is written and fsynced.
    fn upload(&self, pack: PackBuilder) -> Result<()> {
        let tx = self
            .uploads
            .lock()
            .map_err(|_| Error::internal("poisoned"))?
            .clone();
        match tx {
            Some(tx) => tx
                .send(pack)
                .map_err(|_| Error::internal("uploader stopped")),
            None => Err(Error::internal("writer closed")),
        }
    }

    fn store_pack(&self, pack: PackBuilder) -> Result<()> {
        let done = pack.finish(&self.cipher)?;
        self.storage
            .put(ObjectKind::Pack, &done.id.to_hex(), &done.bytes)?;
        let indexed = IndexedPack {
            id: done.id,
            size: done.bytes.len() as u64,
            entries: done.entries,
        };
        // The next pack fills this buffer: its pages are already in memory.
        self.packs.give(done.bytes);
        self.checkpoint
            .lock()
            .map_err(|_| Error::internal("poisoned"))?
            .pending
            .push(indexed);
        Ok(())
    }

    /// Writes an index file for the packs stored since the last one, when due (or `force`).
    fn write_index(&self, force: bool) -> Result<()> {
        let mut cp = self
            .checkpoint
            .lock()
            .map_err(|_| Error::internal("poisoned"))?;
        let due = cp.pending.len() >= CHECKPOINT_PACKS || cp.last.elapsed() >= CHECKPOINT_EVERY;
        if cp.pending.is_empty() || !(force || due) {
            return Ok(());
        }
        let bytes = index::encode(&cp.pending, &self.cipher)?;
        let name = Id::of_bytes(&bytes).to_hex();
        self.storage.put(ObjectKind::Index, &name, &bytes)?;
        cp.pending.clear();
        cp.last = Instant::now();
        cp.written.push(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::test_repo;

    /// Pages travel in batches, the last one partly filled: every blob added is stored
    /// and reads back, whatever its size and however the batches fall.
    #[test]
    fn every_blob_added_is_stored_small_ones_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let w = BlobWriter::start(
            repo.storage.clone(),
            repo.codec.clone(),
            repo.cipher.clone(),
            256 * 1024,
            2,
        )
        .unwrap();
        let mut blobs = Vec::new();
        for n in 0..(3 * BATCH_BLOBS + 5) {
            // Pages, a chunk now and then between them, one blob just over the batch size.
            let len = match n % 10 {
                9 => 100_000,
                5 => BATCH_BLOB + 1,
                _ => 4096,
            };
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + n * 7) as u8).collect();
            let id = repo.codec.id(&data);
            w.add(BlobKind::Data, id, data.clone(), true).unwrap();
            blobs.push((id, data));
        }
        let (stats, _) = w.finish(true).unwrap();
        assert_eq!(stats.blobs, blobs.len() as u64);
        let (index, _) = repo.load_index(false).unwrap();
        for (id, data) in &blobs {
            assert!(repo.read_blob(&index, id).unwrap() == *data);
        }
    }
}
