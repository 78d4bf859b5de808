//! Restore: write a snapshot (or part of it) into a target directory. Every blob is
//! authenticated and its hash checked before any of its bytes reach the target; names that
//! could escape the target are refused.
//!
//! Damage does not stop a restore: a blob that fails authentication, sits in a missing or
//! truncated pack, or is missing from the index leaves zeros where its bytes were (the rest
//! of the file, a chat database most of all, stays usable), a directory whose tree cannot
//! be read is skipped, and every such file or folder is listed in
//! [`RestoreSummary::damaged`]. Errors that are not damage (an unreachable server, a full
//! disk) still stop it.

use std::ffi::OsString;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::buffers::BufferPool;
use super::id::Id;
use super::index::{BlobLocation, Index};
use super::snapshot::Snapshot;
use super::tree::{Node, NodeKind, Tree, MAX_DEPTH};
use super::Repository;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Phase, ProgressListener, Tracker};
use crate::safe_fs::{Dir, NewFile};
use crate::storage::ObjectKind;

/// Restored files are written through a buffer of this size; the writer hands it runs of
/// neighbouring blobs (up to [`MAX_READ`]), which bypass it, so it only gathers the small
/// pieces between holes and read boundaries. Small enough to come from the heap again for
/// each file (a megabyte was mapped afresh, page by page, for each of a thousand files).
const WRITE_BUFFER: usize = 64 * 1024;

/// Reads of neighbouring blobs in one pack are merged up to this size. Several reads are
/// decoded at once, so this also bounds the memory a restore takes.
const MAX_READ: u64 = 2 * 1024 * 1024;

/// A read goes on over a gap of at most this many bytes to the next blob in the same pack
/// (blobs another file or an earlier backup put between them): one read instead of two.
const MAX_GAP: u64 = 256 * 1024;

/// Decoded reads' buffers up to this size are kept for the next reads (a read's
/// plaintexts are at most a few times [`MAX_READ`]; a larger one, a rare large blob, is
/// freed).
const KEEP_BUFFER: usize = 8 * 1024 * 1024;

/// Batches between the walk and the writer: reads being fetched and decoded, or decoded
/// and waiting for their turn to be written.
const IN_FLIGHT: usize = 8;

/// Items go over in batches of at most this many (and reads of at most [`MAX_READ`] in
/// all): a small file is three items (open, read, close), and one channel hand-over each
/// made a folder of 100,000 photos 300,000 hand-overs through three channels, which on 2
/// cores mostly yielded to each other (1.5 M `sched_yield`).
const BATCH_ITEMS: usize = 64;

/// Options for a restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Only restore these paths (relative to the snapshot root, `/`-separated, e.g.
    /// `export/db/Msg.db` or `export/media`); empty restores everything.
    pub include: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreSummary {
    /// Files written (damaged ones included).
    pub files: u64,
    /// Directories created.
    pub dirs: u64,
    /// Bytes written (holes in sparse files included).
    pub bytes: u64,
    /// Files written with parts that could not be read, and folders that could not be read
    /// at all: the repository is damaged there (`check --read-data` says where).
    pub damaged: Vec<DamagedPath>,
}

/// A file or folder a restore could not read whole.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DamagedPath {
    /// The path in the snapshot (`/`-separated).
    pub path: String,
    /// Bytes of the file written as zeros because they could not be read (0 for a folder).
    pub unreadable_bytes: u64,
    /// Whether it is a folder whose contents could not be listed (nothing under it was
    /// restored).
    pub folder: bool,
    /// The first damage found in it.
    pub reason: String,
}

/// Whether `e` is damage in the repository (restore goes on past it) rather than a failure
/// to reach it or to write the target (restore stops).
fn is_damage(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt { .. } | Error::Storage(crate::storage::StorageError::NotFound { .. })
    )
}

/// The paths a restore selects (relative to the snapshot root, `/`-separated), kept sorted
/// so that a restore of many thousands of files (an export's media) looks each path up in
/// logarithmic time.
struct Include(std::collections::BTreeSet<String>);

impl Include {
    fn new(paths: &[String]) -> Self {
        Include(
            paths
                .iter()
                .map(|p| p.trim_matches('/').to_string())
                .collect(),
        )
    }

    /// Whether `path` is selected: equal to or under an include (`whole`), or an ancestor
    /// of one, so that the directories leading to it are entered (`enter`).
    fn selected(&self, path: &str) -> (bool, bool) {
        if self.0.is_empty() {
            return (true, true);
        }
        let mut prefix = path;
        let whole = loop {
            if self.0.contains(prefix) {
                break true;
            }
            match prefix.rfind('/') {
                Some(i) => prefix = &prefix[..i],
                None => break false,
            }
        };
        let below = format!("{path}/");
        let partly = self
            .0
            .range(below.clone()..)
            .next()
            .is_some_and(|p| p.starts_with(&below));
        (whole, whole || partly)
    }
}

/// The tree walk: creates directories and symlinks itself, and hands every file's reads,
/// in order, to the decoding workers and the writer.
struct Walker<'a> {
    repo: &'a Repository,
    index: &'a Index,
    include: &'a Include,
    cancel: &'a CancelToken,
    out: Handoff,
}

/// The writer: receives decoded items in walk order and writes them.
struct Writer<'a> {
    /// Where decoded reads' buffers go back once written.
    buffers: &'a BufferPool,
    tracker: Tracker<'a>,
    cancel: &'a CancelToken,
    summary: RestoreSummary,
    file: Option<OpenFile>,
}

struct OpenFile {
    dest: PathBuf,
    /// The path in the snapshot.
    path: String,
    node: Node,
    /// Bytes written as zeros for want of readable data, and the first reason.
    unreadable: u64,
    damage: Option<String>,
    /// A blob of unknown length was lost: the rest of the file is zeros.
    rest_lost: bool,
    /// Written under a new name, renamed over `dest` when complete: never written through
    /// a file, hard link or symlink already in the target.
    out: NewFile,
    written: u64,
}

impl OpenFile {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out
            .write_all(data)
            .map_err(|e| Error::io("write", &self.dest, e))?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// `n` zeros: a hole.
    fn skip(&mut self, n: u64) -> Result<()> {
        let by = i64::try_from(n).map_err(|_| Error::internal("restore hole too large"))?;
        self.out
            .seek(SeekFrom::Current(by))
            .map_err(|e| Error::io("write", &self.dest, e))?;
        self.written += n;
        Ok(())
    }
}

/// What the walk hands over, in order; the workers turn each `Read` into `Data`.
enum Item {
    /// Start writing a file (`path` as shown in progress).
    Open {
        /// The folder it goes in, held open, and its name there.
        dir: Arc<Dir>,
        name: OsString,
        dest: PathBuf,
        node: Node,
        path: String,
    },
    /// Blobs that sit next to each other in one pack: one read.
    Read {
        pack: Id,
        offset: u64,
        length: u64,
        blobs: Vec<(Id, BlobLocation)>,
    },
    /// A read, authenticated and decoded: its blobs' plaintexts one after the other in
    /// `plain` (a buffer from the restore's pool, returned once written), in order.
    Data { plain: Vec<u8>, pieces: Vec<Piece> },
    /// A folder whose tree could not be read: nothing under it is restored.
    Unlisted { path: String, reason: String },
    /// The open file is complete.
    Close,
    /// A directory whose entries are all written: its mode and time are set now.
    DirDone {
        dir: Arc<Dir>,
        node: Node,
        whole: bool,
    },
}

/// One blob of a file as the writer gets it.
enum Piece {
    /// Its plaintext: the next this many bytes of the item's `plain`.
    Plain(usize),
    /// It could not be read: `length` zeros take its place; `None`: the length is not known
    /// either (not in the index), so the rest of the file is zeros and nothing more comes.
    Unreadable { length: Option<u64>, reason: String },
}

/// The walk's end of the pipeline: items go out in batches, each only with a credit the
/// writer gave back, so at most [`IN_FLIGHT`] batches (reads of at most [`MAX_READ`] each)
/// are in memory.
struct Handoff {
    seq: u64,
    todo: Sender<(u64, Vec<Item>)>,
    credits: Receiver<()>,
    batch: Vec<Item>,
    /// Bytes the batch's reads fetch.
    reading: u64,
    /// The writer stopped (its own error is the one to report).
    stopped: bool,
}

impl Handoff {
    fn send(&mut self, item: Item) -> Result<()> {
        if let Item::Read { length, .. } = &item {
            if self.reading + length > MAX_READ {
                self.flush()?;
            }
            self.reading += length;
        }
        self.batch.push(item);
        if self.batch.len() >= BATCH_ITEMS {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what the batch holds.
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_ITEMS));
        self.reading = 0;
        let sent = self.credits.recv().is_ok() && self.todo.send((self.seq, batch)).is_ok();
        if !sent {
            self.stopped = true;
            return Err(Error::internal("the restore writer stopped"));
        }
        self.seq += 1;
        Ok(())
    }
}

impl Repository {
    /// Restores `snapshot` into `target` (created if missing). Existing files with the same
    /// names are overwritten; nothing outside `target` is touched.
    pub fn restore(
        &self,
        snapshot: &Snapshot,
        target: &Path,
        options: &RestoreOptions,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<RestoreSummary> {
        self.restore_tree(&snapshot.tree, target, options, listener, cancel)
    }

    /// Restores the tree `root` into `target`.
    ///
    /// Three stages run at once: the tree walk (this thread's helper), workers that fetch
    /// and decode reads (one per core, at most four), and the writer (this thread), which
    /// puts decoded data back in walk order.
    pub(crate) fn restore_tree(
        &self,
        root: &Id,
        target: &Path,
        options: &RestoreOptions,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<RestoreSummary> {
        let (index, _) = self.load_index(false)?;
        self.restore_tree_in(&index, root, target, options, listener, cancel)
    }

    /// [`Repository::restore_tree`] with the repository's index already loaded (several
    /// trees restored with one load).
    pub(crate) fn restore_tree_in(
        &self,
        index: &Index,
        root: &Id,
        target: &Path,
        options: &RestoreOptions,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<RestoreSummary> {
        let target_dir = Arc::new(Dir::open_target(target)?);
        let include = Include::new(&options.include);
        let root = self.read_tree(index, root)?;
        let mut tracker = Tracker::new(listener, Phase::Scanning);
        count(self, index, &include, &mut tracker, &root, "", false, 0)?;
        tracker.set_phase(Phase::Restore);
        // One buffer per item in flight, each read's plaintexts in one: recycled, so
        // a restore does not fault in fresh memory for every read.
        let buffers = BufferPool::new(IN_FLIGHT + 4, KEEP_BUFFER);
        let mut writer = Writer {
            buffers: &buffers,
            tracker,
            cancel,
            summary: RestoreSummary::default(),
            file: None,
        };
        let workers = super::reading_threads();
        let (todo_tx, todo_rx) = bounded::<(u64, Vec<Item>)>(IN_FLIGHT);
        let (done_tx, done_rx) = bounded::<(u64, Result<Vec<Item>>)>(IN_FLIGHT);
        let (credit_tx, credit_rx) = bounded::<()>(IN_FLIGHT);
        for _ in 0..IN_FLIGHT {
            credit_tx
                .send(())
                .map_err(|_| Error::internal("restore credits"))?;
        }
        std::thread::scope(|scope| {
            let walk = std::thread::Builder::new()
                .name("chatvault-walk".into())
                .spawn_scoped(scope, || {
                    let mut w = Walker {
                        repo: self,
                        index,
                        include: &include,
                        cancel,
                        out: Handoff {
                            seq: 0,
                            todo: todo_tx,
                            credits: credit_rx,
                            batch: Vec::with_capacity(BATCH_ITEMS),
                            reading: 0,
                            stopped: false,
                        },
                    };
                    let walked = w
                        .tree(&root, &target_dir, "", false, 0)
                        .and_then(|()| w.out.flush());
                    (walked, w.out.stopped)
                })
                .map_err(|e| Error::internal_from("spawn restore walk", e))?;
            for n in 0..workers {
                let (todo, done, buffers) = (todo_rx.clone(), done_tx.clone(), &buffers);
                std::thread::Builder::new()
                    .name(format!("chatvault-restore-{n}"))
                    .spawn_scoped(scope, move || {
                        let mut sealed = Vec::new();
                        for (seq, batch) in todo {
                            let decoded = batch
                                .into_iter()
                                .map(|item| self.decode(item, buffers, &mut sealed))
                                .collect();
                            if done.send((seq, decoded)).is_err() {
                                break;
                            }
                        }
                    })
                    .map_err(|e| Error::internal_from("spawn restore worker", e))?;
            }
            drop((todo_rx, done_tx));
            let written = writer.run(done_rx, credit_tx);
            let (walked, writer_stopped) = walk
                .join()
                .map_err(|_| Error::internal("the restore walk panicked"))?;
            // Whichever side stopped first has the error worth reporting: the walk's (a
            // damaged tree, an unsafe name) unless it only saw the writer go.
            match (walked, writer_stopped) {
                (Err(e), false) => Err(e),
                _ => written,
            }
        })?;
        let mut writer = writer;
        writer.tracker.p.phase = Phase::Finished;
        writer.tracker.report(true);
        Ok(writer.summary)
    }

    /// Fetches a read into the worker's buffer `sealed` and authenticates and decodes its
    /// blobs into a buffer of `buffers` (any other item passes through).
    fn decode(&self, item: Item, buffers: &BufferPool, sealed: &mut Vec<u8>) -> Result<Item> {
        let Item::Read {
            pack,
            offset,
            length,
            blobs,
        } = item
        else {
            return Ok(item);
        };
        let unreadable = |l: &BlobLocation, e: &Error| Piece::Unreadable {
            length: Some(l.raw_length as u64),
            reason: e.to_string(),
        };
        let bytes = match self
            .storage
            .get_range_into(ObjectKind::Pack, &pack.to_hex(), offset, length, sealed)
            .map_err(Error::from)
        {
            Ok(()) => &*sealed,
            Err(e) if is_damage(&e) => {
                return Ok(Item::Data {
                    plain: Vec::new(),
                    pieces: blobs.iter().map(|(_, l)| unreadable(l, &e)).collect(),
                })
            }
            Err(e) => return Err(e),
        };
        let mut plain = buffers.take();
        plain.reserve(blobs.iter().map(|(_, l)| l.raw_length as usize).sum());
        let mut pieces = Vec::with_capacity(blobs.len());
        for (id, l) in &blobs {
            let start = (l.offset as u64 - offset) as usize;
            let before = plain.len();
            let opened = bytes
                .get(start..start + l.length as usize)
                .ok_or_else(|| Error::corrupt(format!("pack data/{}", pack.to_hex()), "short read"))
                .and_then(|sealed| self.open_blob_append(l, id, sealed, &mut plain));
            pieces.push(match opened {
                Ok(()) => Piece::Plain(plain.len() - before),
                Err(e) if is_damage(&e) => unreadable(l, &e),
                Err(e) => return Err(e),
            });
        }
        Ok(Item::Data { plain, pieces })
    }
}

impl Repository {
    /// The tree of the folder `name` at the top of tree `root`, if there is one.
    pub(crate) fn subtree_at(&self, index: &Index, root: &Id, name: &str) -> Result<Option<Id>> {
        let tree = self.read_tree(index, root)?;
        Ok(tree
            .nodes
            .iter()
            .find(|n| n.name == name && n.kind == NodeKind::Dir)
            .and_then(|n| n.subtree))
    }

    /// Whether the snapshot's top-level node `name` is a file (a zip or a single export
    /// file) rather than a folder.
    pub(crate) fn root_is_file(
        &self,
        index: &Index,
        snapshot: &Snapshot,
        name: &str,
    ) -> Result<bool> {
        let root = self.read_tree(index, &snapshot.tree)?;
        Ok(root
            .nodes
            .iter()
            .any(|n| n.name == name && !matches!(n.kind, NodeKind::Dir)))
    }
}

fn child_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Adds the selected files' count and size to the progress totals.
#[allow(clippy::too_many_arguments)]
fn count(
    repo: &Repository,
    index: &Index,
    include: &Include,
    tracker: &mut Tracker,
    tree: &Tree,
    prefix: &str,
    all: bool,
    depth: usize,
) -> Result<()> {
    for n in &tree.nodes {
        let path = child_path(prefix, &n.name);
        let (whole, enter) = if all {
            (true, true)
        } else {
            include.selected(&path)
        };
        match n.kind {
            NodeKind::File if whole => {
                tracker.p.files_total += 1;
                tracker.p.bytes_total += n.size;
            }
            NodeKind::Dir if enter && depth < MAX_DEPTH => {
                if let Some(id) = n.subtree {
                    // An unreadable tree is reported by the walk; here it counts nothing.
                    match repo.read_tree(index, &id) {
                        Ok(t) => count(repo, index, include, tracker, &t, &path, whole, depth + 1)?,
                        Err(e) if is_damage(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

impl Walker<'_> {
    fn tree(
        &mut self,
        tree: &Tree,
        dir: &Arc<Dir>,
        prefix: &str,
        all: bool,
        depth: usize,
    ) -> Result<()> {
        for n in &tree.nodes {
            self.cancel.check()?;
            let name = n.safe_name()?;
            let path = child_path(prefix, &n.name);
            let (whole, enter) = if all {
                (true, true)
            } else {
                self.include.selected(&path)
            };
            if !enter {
                continue;
            }
            let dest = dir.path().join(&name);
            match n.kind {
                NodeKind::Dir => {
                    // Opened from its parent, never by path: a folder swapped for a
                    // symlink meanwhile cannot send what follows elsewhere.
                    let sub = Arc::new(dir.child(&name, &path)?);
                    if let Some(id) = n.subtree {
                        let read = if depth + 1 >= MAX_DEPTH {
                            Err(Error::corrupt(
                                format!("tree {}", id.to_hex()),
                                format!("nested deeper than {MAX_DEPTH} folders"),
                            ))
                        } else {
                            self.repo.read_tree(self.index, &id)
                        };
                        match read {
                            Ok(t) => self.tree(&t, &sub, &path, whole, depth + 1)?,
                            Err(e) if is_damage(&e) => self.out.send(Item::Unlisted {
                                path: path.clone(),
                                reason: e.to_string(),
                            })?,
                            Err(e) => return Err(e),
                        }
                    }
                    self.out.send(Item::DirDone {
                        dir: sub,
                        node: n.clone(),
                        whole,
                    })?;
                }
                NodeKind::File if whole => self.file(n, dir, name, dest, path)?,
                NodeKind::Symlink if whole => {
                    let target = n.target.clone().unwrap_or_default();
                    dir.symlink(&target, &name)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Hands over one file: open, its reads (runs of blobs next to each other in a pack
    /// merged into one), close.
    fn file(
        &mut self,
        node: &Node,
        dir: &Arc<Dir>,
        name: OsString,
        dest: PathBuf,
        path: String,
    ) -> Result<()> {
        self.out.send(Item::Open {
            dir: dir.clone(),
            name,
            dest,
            node: Node {
                content: Vec::new(),
                content_lists: Vec::new(),
                ..node.clone()
            },
            path,
        })?;
        // One list blob of ids at a time (a run of neighbours ends at a list's end).
        let (repo, index) = (self.repo, self.index);
        let mut lost = false;
        let listed = repo.for_each_content(index, node, |ids| {
            if !lost {
                lost = self.reads(ids)?;
            }
            Ok(())
        });
        match listed {
            Ok(()) => {}
            // A content list blob that cannot be read: the rest of the file is lost.
            Err(e) if is_damage(&e) && !lost => self.out.send(Item::Data {
                plain: Vec::new(),
                pieces: vec![Piece::Unreadable {
                    length: None,
                    reason: e.to_string(),
                }],
            })?,
            Err(e) if is_damage(&e) => {}
            Err(e) => return Err(e),
        }
        self.out.send(Item::Close)
    }

    /// Hands over reads for `ids`: runs of blobs next to each other in one pack, merged.
    /// Returns true when a blob is missing from the index: the rest of the file cannot be
    /// placed, so nothing more of it is sent.
    fn reads(&mut self, ids: &[Id]) -> Result<bool> {
        let mut i = 0;
        while i < ids.len() {
            self.cancel.check()?;
            let first = match self.locate(&ids[i]) {
                Ok(l) => l,
                Err(e) => {
                    self.out.send(Item::Data {
                        plain: Vec::new(),
                        pieces: vec![Piece::Unreadable {
                            length: None,
                            reason: e.to_string(),
                        }],
                    })?;
                    return Ok(true);
                }
            };
            let mut end = first.offset as u64 + first.length as u64;
            let mut blobs = vec![(ids[i], first)];
            let mut j = i + 1;
            while j < ids.len() {
                // A blob missing from the index ends the run; the next round reports it.
                let Ok(l) = self.locate(&ids[j]) else { break };
                let at = l.offset as u64;
                if l.pack != first.pack
                    || at < end
                    || at - end > MAX_GAP
                    || at + l.length as u64 - first.offset as u64 > MAX_READ
                {
                    break;
                }
                end = at + l.length as u64;
                blobs.push((ids[j], l));
                j += 1;
            }
            self.out.send(Item::Read {
                pack: first.pack,
                offset: first.offset as u64,
                length: end - first.offset as u64,
                blobs,
            })?;
            i = j;
        }
        Ok(false)
    }

    fn locate(&self, id: &Id) -> Result<BlobLocation> {
        self.index.get(id)?.ok_or_else(|| {
            Error::corrupt(
                format!("blob {}", id.to_hex()),
                "not in any pack listed by the index",
            )
        })
    }
}

impl Writer<'_> {
    /// Writes batches in walk order as they come back from the workers; returns a credit to
    /// the walk for each one written.
    fn run(&mut self, done: Receiver<(u64, Result<Vec<Item>>)>, credits: Sender<()>) -> Result<()> {
        let mut next = 0u64;
        let mut waiting = std::collections::BTreeMap::new();
        for (seq, batch) in done {
            waiting.insert(seq, batch);
            while let Some(batch) = waiting.remove(&next) {
                self.cancel.check()?;
                for item in batch? {
                    self.write(item)?;
                }
                next += 1;
                // The walk may have finished: nobody waits for the credit then.
                let _ = credits.send(());
            }
        }
        if let Some(f) = &self.file {
            return Err(Error::internal(format!(
                "restore of {} stopped before its end",
                f.dest.display()
            )));
        }
        Ok(())
    }

    fn write(&mut self, item: Item) -> Result<()> {
        match item {
            Item::Open {
                dir,
                name,
                dest,
                node,
                path,
            } => {
                self.tracker.p.current = path.clone();
                // Database pages are 1-4 KiB: buffer them into large writes.
                let out = NewFile::create_in(&dir, &name, 0o600, WRITE_BUFFER)?;
                self.file = Some(OpenFile {
                    dest,
                    path,
                    node,
                    out,
                    written: 0,
                    unreadable: 0,
                    damage: None,
                    rest_lost: false,
                });
            }
            Item::Unlisted { path, reason } => self.summary.damaged.push(DamagedPath {
                path,
                unreadable_bytes: 0,
                folder: true,
                reason,
            }),
            Item::Data { plain, pieces } => {
                let f = self
                    .file
                    .as_mut()
                    .ok_or_else(|| Error::internal("restore data without a file"))?;
                let before = f.written;
                // Neighbouring plaintexts go out in one write (a run of database pages is
                // one write, not one per page); a blob of zeros is a hole, as in sparse
                // data; an unreadable one, zeros where it was.
                let mut run = 0..0;
                for piece in pieces {
                    match piece {
                        Piece::Plain(n) => {
                            let data = plain
                                .get(run.end..run.end + n)
                                .ok_or_else(|| Error::internal("restore piece out of its read"))?;
                            if data.iter().all(|b| *b == 0) {
                                f.write(&plain[run.clone()])?;
                                f.skip(n as u64)?;
                                run = run.end + n..run.end + n;
                            } else {
                                run.end += n;
                            }
                        }
                        Piece::Unreadable { length, reason } => {
                            f.write(&plain[run.clone()])?;
                            run = run.end..run.end;
                            f.damage.get_or_insert(reason);
                            match length {
                                Some(n) => {
                                    f.skip(n)?;
                                    f.unreadable += n;
                                }
                                None => f.rest_lost = true,
                            }
                        }
                    }
                }
                f.write(&plain[run])?;
                self.summary.bytes += f.written - before;
                self.tracker.p.bytes_done += f.written - before;
                self.tracker.report(false);
                self.buffers.give(plain);
            }
            Item::Close => {
                let f = self
                    .file
                    .take()
                    .ok_or_else(|| Error::internal("restore close without a file"))?;
                let mut out = f.out;
                let mut f_written = f.written;
                let mut unreadable = f.unreadable;
                if f.rest_lost && f_written < f.node.size {
                    unreadable += f.node.size - f_written;
                    self.summary.bytes += f.node.size - f_written;
                    f_written = f.node.size;
                }
                out.set_len(f_written)?;
                if f_written != f.node.size && f.damage.is_none() {
                    return Err(Error::corrupt(
                        format!("file {}", f.dest.display()),
                        format!(
                            "content is {} bytes, snapshot says {}",
                            f_written, f.node.size
                        ),
                    ));
                }
                set_file_meta(out.file(), &f.dest, &f.node)?;
                out.commit().map_err(|e| Error::io("replace", &f.dest, e))?;
                if let Some(reason) = f.damage {
                    self.summary.damaged.push(DamagedPath {
                        path: f.path,
                        unreadable_bytes: unreadable,
                        folder: false,
                        reason,
                    });
                }
                self.summary.files += 1;
                self.tracker.p.files_done += 1;
            }
            Item::DirDone { dir, node, whole } => {
                self.summary.dirs += 1;
                dir.set_meta(mode_of(&node, whole), mtime_of(&node))?;
            }
            Item::Read { .. } => {
                return Err(Error::internal("restore read not decoded"));
            }
        }
        Ok(())
    }
}

/// The permissions to restore, if any: without setuid, setgid and sticky bits (a snapshot
/// is not trusted to hand out privileges).
fn mode_of(n: &Node, whole: bool) -> Option<u32> {
    (whole && n.mode != 0).then_some(n.mode & 0o777)
}

fn mtime_of(n: &Node) -> filetime::FileTime {
    let secs = n.mtime_ns.div_euclid(1_000_000_000);
    let nanos = n.mtime_ns.rem_euclid(1_000_000_000) as u32;
    filetime::FileTime::from_unix_time(secs, nanos)
}

/// Sets a restored file's permissions and modification time through its descriptor
/// (`dest` names it in errors).
fn set_file_meta(file: &fs::File, dest: &Path, n: &Node) -> Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode_of(n, true) {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("set permissions of", dest, e))?;
    }
    filetime::set_file_handle_times(file, None, Some(mtime_of(n)))
        .map_err(|e| Error::io("set time of", dest, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::repo::blob::BlobKind;
    use crate::repo::writer::BlobWriter;
    use crate::repo::{snapshot::Snapshot, test_repo};

    /// Writes a snapshot whose root tree is `root`, with `files` as data blobs.
    fn forge(repo: &Repository, root: impl FnOnce(&Repository, &BlobWriter) -> Tree) -> Snapshot {
        let w = BlobWriter::start(
            repo.storage.clone(),
            repo.codec.clone(),
            repo.cipher.clone(),
            1 << 20,
            1,
        )
        .unwrap();
        let tree = root(repo, &w);
        let json = serde_json::to_vec(&tree).unwrap();
        let tid = repo.codec.id(&json);
        w.add(BlobKind::Tree, tid, json, true).unwrap();
        w.finish(true).unwrap();
        let mut s = Snapshot::for_test(0, chrono::Utc::now(), "evil", &[]);
        s.tree = tid;
        s.id = repo.save_snapshot(&s).unwrap();
        s
    }

    /// Restores all of `snap` into `target`.
    fn restore_all(repo: &Repository, snap: &Snapshot, target: &Path) -> Result<RestoreSummary> {
        repo.restore(
            snap,
            target,
            &RestoreOptions::default(),
            None,
            &CancelToken::new(),
        )
    }

    fn file_node(repo: &Repository, w: &BlobWriter, name: &str) -> Node {
        let data = b"pwned".to_vec();
        let id = repo.codec.id(&data);
        w.add(BlobKind::Data, id, data, false).unwrap();
        let mut n = Node::new(name.into(), NodeKind::File);
        n.size = 5;
        n.content = vec![id];
        n
    }

    /// A file's blobs with other files' blobs between them in the pack (what a day-later
    /// backup leaves: changed pages among new files) are read over the gaps, and a blob of
    /// zeros among them stays a hole: every byte restored as it was.
    #[test]
    fn blobs_between_other_files_blobs_and_holes_restore_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let blob = |fill: u8, len: usize| -> Vec<u8> {
            (0..len)
                .map(|i| if fill == 0 { 0 } else { fill ^ (i as u8) })
                .collect()
        };
        let (a, b) = (
            [blob(1, 4096), blob(0, 4096), blob(2, 4096), blob(3, 100)],
            [blob(7, 5000), blob(8, 4096), blob(9, 3000)],
        );
        let snap = forge(&repo, |r, w| {
            let ids =
                |parts: &[Vec<u8>]| -> Vec<Id> { parts.iter().map(|p| r.codec.id(p)).collect() };
            // In the pack: a0 b0 a1 b1 a2 b2 a3.
            for i in 0..4 {
                for part in [a.get(i), b.get(i)].into_iter().flatten() {
                    w.add(BlobKind::Data, r.codec.id(part), part.clone(), false)
                        .unwrap();
                }
            }
            let node = |name: &str, parts: &[Vec<u8>]| {
                let mut n = Node::new(name.into(), NodeKind::File);
                n.size = parts.iter().map(|p| p.len() as u64).sum();
                n.content = ids(parts);
                n
            };
            Tree {
                nodes: vec![node("a", &a), node("b", &b)],
            }
        });
        let out = dir.path().join("out");
        let summary = restore_all(&repo, &snap, &out).unwrap();
        assert!(summary.damaged.is_empty(), "{:?}", summary.damaged);
        assert_eq!(fs::read(out.join("a")).unwrap(), a.concat());
        assert_eq!(fs::read(out.join("b")).unwrap(), b.concat());
        assert_eq!(summary.bytes, (a.concat().len() + b.concat().len()) as u64);
    }

    #[test]
    fn check_reports_unsafe_names_duplicates_and_setuid_bits() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let check = |repo: &Repository| {
            repo.check(crate::repo::check::ReadData::All, None, &CancelToken::new())
                .unwrap()
        };
        assert!(check(&repo).is_ok());
        forge(&repo, |r, w| {
            let mut suid = file_node(r, w, "tool");
            suid.mode = 0o4755;
            Tree {
                nodes: vec![
                    file_node(r, w, "../escape"),
                    file_node(r, w, "twice"),
                    file_node(r, w, "twice"),
                    suid,
                ],
            }
        });
        let report = check(&repo);
        let errors = report.errors.join("\n");
        assert!(errors.contains("../escape"), "{errors}");
        assert!(errors.contains("\"twice\" is listed twice"), "{errors}");
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("\"tool\"") && w.contains("setuid")),
            "{:?}",
            report.warnings
        );
    }

    #[test]
    fn endlessly_nested_trees_are_refused_without_exhausting_stack_or_memory() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        // 20,000 folders, each holding the next (a forged snapshot; no filesystem has it),
        // and a file at the top.
        let snap = forge(&repo, |r, w| {
            let mut inner = Tree::default();
            for _ in 0..20_000 {
                let json = serde_json::to_vec(&inner).unwrap();
                let sub = r.codec.id(&json);
                w.add(BlobKind::Tree, sub, json, true).unwrap();
                let mut d = Node::new("d".into(), NodeKind::Dir);
                d.subtree = Some(sub);
                inner = Tree { nodes: vec![d] };
            }
            inner.nodes.push(file_node(r, w, "top"));
            inner
        });
        let target = dir.path().join("target");
        let s = restore_all(&repo, &snap, &target).unwrap();
        assert_eq!(s.files, 1, "the file beside the chain is restored");
        assert!(
            s.damaged
                .iter()
                .any(|d| d.folder && d.reason.contains("deeper")),
            "{:?}",
            s.damaged
        );
        let report = repo
            .check(
                crate::repo::check::ReadData::None,
                None,
                &CancelToken::new(),
            )
            .unwrap();
        assert!(
            report.errors.iter().any(|e| e.contains("deeper")),
            "{:?}",
            report.errors
        );
        let walked = repo.walk_snapshot(&snap, "", |_| Ok(()));
        assert!(matches!(walked, Err(Error::Corrupt { .. })), "{walked:?}");
    }

    #[test]
    fn restore_never_writes_outside_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let target = dir.path().join("target");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();

        for evil in ["../escape", "..", "/etc/escape", "a/../../escape"] {
            let snap = forge(&repo, |r, w| Tree {
                nodes: vec![file_node(r, w, evil)],
            });
            let err = restore_all(&repo, &snap, &target).unwrap_err();
            assert!(matches!(err, Error::UnsafePath(_)), "{evil}: {err}");
        }
        assert!(!dir.path().join("escape").exists());

        // A symlink planted in the target where the snapshot has a directory.
        let snap = forge(&repo, |r, w| {
            let inner = Tree {
                nodes: vec![file_node(r, w, "f")],
            };
            let json = serde_json::to_vec(&inner).unwrap();
            let sub = r.codec.id(&json);
            w.add(BlobKind::Tree, sub, json, true).unwrap();
            let mut d = Node::new("a".into(), NodeKind::Dir);
            d.subtree = Some(sub);
            Tree {
                nodes: vec![d, file_node(r, w, "link")],
            }
        });
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, target.join("a")).unwrap();
            let victim = outside.join("victim");
            fs::write(&victim, b"keep").unwrap();
            std::os::unix::fs::symlink(&victim, target.join("link")).unwrap();
            let err = restore_all(&repo, &snap, &target).unwrap_err();
            assert!(matches!(err, Error::UnsafePath(_)), "{err}");
            assert!(!outside.join("f").exists());
            // With the planted directory link gone, the file link is replaced, not followed.
            fs::remove_file(target.join("a")).unwrap();
            restore_all(&repo, &snap, &target).unwrap();
            assert_eq!(fs::read(&victim).unwrap(), b"keep");
            assert_eq!(fs::read(target.join("link")).unwrap(), b"pwned");

            // A hard link planted in the target to a file outside it: the restored file
            // replaces the link, the outside file keeps its content.
            let target = dir.path().join("hard-target");
            fs::create_dir_all(&target).unwrap();
            fs::hard_link(&victim, target.join("link")).unwrap();
            restore_all(&repo, &snap, &target).unwrap();
            assert_eq!(fs::read(&victim).unwrap(), b"keep");
            assert_eq!(fs::read(target.join("link")).unwrap(), b"pwned");
            let leftovers: Vec<_> = fs::read_dir(&target)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .filter(|n| n.to_string_lossy().starts_with('.'))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn setuid_setgid_and_sticky_bits_are_not_restored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let repo = test_repo(dir.path());
        let snap = forge(&repo, |r, w| {
            let mut f = file_node(r, w, "suid");
            f.mode = 0o104755;
            let mut d = Node::new("sticky".into(), NodeKind::Dir);
            d.mode = 0o41777;
            Tree { nodes: vec![f, d] }
        });
        let target = dir.path().join("target");
        restore_all(&repo, &snap, &target).unwrap();
        let mode = |p: &str| fs::metadata(target.join(p)).unwrap().permissions().mode();
        assert_eq!(mode("suid") & 0o7777, 0o755);
        assert_eq!(mode("sticky") & 0o7777, 0o777);
    }

    #[test]
    fn include_selects_paths_and_their_ancestors() {
        let inc = Include::new(&["export/db".to_string(), "/export/m/a b.jpg".to_string()]);
        assert_eq!(inc.selected("export"), (false, true));
        assert_eq!(inc.selected("export/db"), (true, true));
        assert_eq!(inc.selected("export/db/Msg.db"), (true, true));
        assert_eq!(inc.selected("export/media"), (false, false));
        assert_eq!(inc.selected("export/dbx"), (false, false));
        assert_eq!(inc.selected("export/m"), (false, true));
        assert_eq!(inc.selected("export/m/a b.jpg"), (true, true));
        assert_eq!(inc.selected("export/m/a"), (false, false));
        assert_eq!(Include::new(&[]).selected("anything"), (true, true));
    }
}
