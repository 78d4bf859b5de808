//! Backup: walk the source, cut files into blobs by kind, store what the repository lacks,
//! write trees bottom-up, and write the snapshot last (the commit point).

use std::collections::HashSet;
use std::fs::{self, File, Metadata};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::blob::{BlobBuilder, BlobKind, BlobReader, Built};
use super::chunker::{sqlite_page_size, Chunker, Chunking};
use super::compression::{is_dense, is_media};
use super::id::Id;
use super::id_set::IdSet;
use super::index::Index;
use super::lock;
use super::snapshot::{Snapshot, SnapshotSummary, SourceInfo};
use super::tree::{Node, NodeKind, NodeStream, Tree, TreeEncoder, IDS_PER_LIST, INLINE_IDS};
use super::writer::BlobWriter;
use super::Repository;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Phase, ProgressListener, Tracker};
use crate::storage::ObjectKind;

/// Options for a backup.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Host or device name to record (default: this machine's host name).
    pub host: Option<String>,
    /// Tags to record.
    pub tags: Vec<String>,
    /// Worker threads for compression and encryption (0: one per core).
    pub threads: usize,
    /// Files that are encrypted SQLite databases, with their page size (e.g. WeChat's
    /// EnMicroMsg.db, 1,024): cut at page boundaries and stored uncompressed.
    pub page_sizes: Vec<(PathBuf, u32)>,
    /// What the source is.
    pub source: SourceInfo,
    /// What a layer above the repository stores with the snapshot (the chat layer: its
    /// summary and chat index); see [`Snapshot::extra`].
    pub extra: Option<Extra>,
    /// How long to wait for an exclusive lock (a running prune) to go away.
    pub lock_wait: Duration,
    /// Read every file even if it looks unchanged since the parent snapshot.
    pub force_read: bool,
    /// Leave out photos, videos and voice messages (by file extension).
    pub exclude_media: bool,
    /// Time to record in the snapshot (default: now). Schedulers and tests inject it.
    pub time: Option<chrono::DateTime<Utc>>,
}

/// The result of a backup.
#[derive(Debug, Clone)]
pub struct BackupResult {
    /// The snapshot written.
    pub snapshot: Snapshot,
    /// Files that could not be read (they are missing from the snapshot), and other
    /// problems worth telling the user.
    pub warnings: Vec<String>,
}

struct Run<'a> {
    repo: &'a Repository,
    index: Index,
    seen: IdSet,
    writer: BlobWriter,
    tracker: Tracker<'a>,
    cancel: &'a CancelToken,
    page_sizes: Vec<(PathBuf, u32)>,
    force_read: bool,
    exclude_media: bool,
    summary: SnapshotSummary,
    warnings: Vec<String>,
    /// The chunker's read window, reused from file to file.
    window: Vec<u8>,
    /// Folders entered (the root's contents are at depth 1).
    depth: usize,
}

/// A file's content ids as it is cut: list blobs of [`IDS_PER_LIST`] ids are stored as
/// each fills, so a multi-gigabyte file's ids are never all in memory; a file of at most
/// [`INLINE_IDS`] blobs keeps them inline in its node.
#[derive(Default)]
struct ContentIds {
    pending: Vec<Id>,
    lists: Vec<Id>,
}

/// Nanoseconds since the Unix epoch of a file's modification time.
pub(crate) fn mtime_ns(meta: &Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        },
        Err(_) => 0,
    }
}

fn mode_of(meta: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        if meta.permissions().readonly() {
            0o444
        } else {
            0o644
        }
    }
}

fn encode_error(e: std::io::Error) -> Error {
    Error::internal_from("encode a tree", e)
}

fn node_name(name: &std::ffi::OsStr) -> (String, Option<String>) {
    match name.to_str() {
        Some(s) => (s.to_string(), None),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                (
                    name.to_string_lossy().into_owned(),
                    Some(hex::encode(name.as_bytes())),
                )
            }
            #[cfg(not(unix))]
            {
                (name.to_string_lossy().into_owned(), None)
            }
        }
    }
}

/// What a layer above the repository stores with a snapshot: metadata it reads back typed
/// ([`Snapshot::extra`]) and a tree of its own files ([`Snapshot::extra_tree`]), neither
/// part of the backed-up paths or their totals.
#[derive(Debug, Clone)]
pub struct Extra {
    /// The metadata.
    pub meta: super::snapshot::ExtraMeta,
    /// Its files.
    pub tree: ExtraTree,
}

/// The files of an [`Extra`].
#[derive(Debug, Clone)]
pub enum ExtraTree {
    /// One file, stored as an entry of a new tree under `name`, and beside it the files
    /// `kept` names, taken from trees already stored.
    File {
        /// The file to store.
        path: PathBuf,
        /// Its name in the tree.
        name: String,
        /// Files kept from earlier snapshots (none: `KeptFiles::default()`).
        kept: super::kept::KeptFiles,
    },
    /// A tree already in the repository (an earlier snapshot's, unchanged).
    Stored(Id),
}

/// An [`Extra`] still being made while the paths are backed up (a chat index built by a
/// reader on another thread): called once the paths are stored; its source description
/// and extra replace `options`' before the snapshot is written.
pub(crate) type PendingExtra<'a> = Box<dyn FnOnce() -> Result<(SourceInfo, Extra)> + 'a>;

impl Repository {
    /// Backs up `paths` (files or directories) into a new snapshot.
    pub fn backup(
        &self,
        paths: &[PathBuf],
        options: &BackupOptions,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<BackupResult> {
        self.backup_with(paths, options, None, listener, cancel)
    }

    /// [`Repository::backup`], with an [`Extra`] still being made: `pending` is waited for
    /// after the paths are stored (see [`PendingExtra`]).
    pub(crate) fn backup_with(
        &self,
        paths: &[PathBuf],
        options: &BackupOptions,
        pending: Option<PendingExtra<'_>>,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<BackupResult> {
        let started = Instant::now();
        let time = options.time.unwrap_or_else(Utc::now);
        if paths.is_empty() {
            return Err(Error::InvalidArgument(
                "nothing to back up: no paths given".into(),
            ));
        }
        let mut roots = Vec::new();
        for p in paths {
            let abs = fs::canonicalize(p).map_err(|e| Error::io("open", p, e))?;
            let name = abs
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "root".into());
            if roots
                .iter()
                .any(|(_, n): &(PathBuf, std::ffi::OsString)| *n == name)
            {
                return Err(Error::InvalidArgument(format!(
                    "two paths share the name {name:?}; back them up separately"
                )));
            }
            roots.push((abs, name));
        }
        let host = options.host.clone().unwrap_or_else(super::hostname);
        let path_strings: Vec<String> = roots
            .iter()
            .map(|(p, _)| p.to_string_lossy().into_owned())
            .collect();

        let _lock = lock::acquire(&self.storage, false, "backup", options.lock_wait, cancel)?;
        let (index, index_files) = self.load_index(true)?;
        let parent = self
            .snapshots()?
            .into_iter()
            .rev()
            .find(|s| s.host == host && s.paths == path_strings);

        let mut tracker = Tracker::new(listener, Phase::Scanning);
        for (p, _) in &roots {
            scan(p, &mut tracker, cancel)?;
        }
        tracker.set_phase(Phase::Backup);

        let writer = self.start_writer(options.threads)?;
        let mut run = Run::new(self, index, writer, tracker, cancel);
        run.page_sizes = options
            .page_sizes
            .iter()
            .filter_map(|(p, s)| fs::canonicalize(p).ok().map(|c| (c, *s)))
            .collect();
        run.force_read = options.force_read;
        run.exclude_media = options.exclude_media;
        let parent_root = match &parent {
            Some(p) => run.repo.read_tree(&run.index, &p.tree).ok(),
            None => None,
        };
        let walked = (|| {
            let mut root = Tree::default();
            let parent_nodes = parent_root.as_ref().map(Tree::lookup);
            for (path, name) in &roots {
                let meta = fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
                let (n, bytes) = node_name(name);
                let prev = parent_nodes
                    .as_ref()
                    .and_then(|t| t.get(&n, bytes.as_deref()));
                if let Some(node) = run.entry(path, name, &meta, prev)? {
                    root.nodes.push(node);
                }
            }
            root.nodes.sort_by(|a, b| a.name.cmp(&b.name));
            let tree = run.save_tree(root)?;
            let record = pending.map(|wait| wait()).transpose()?;
            let extra = match &record {
                Some((_, extra)) => Some(extra),
                None => options.extra.as_ref(),
            };
            let extra_tree = match extra {
                Some(e) => Some(run.store_extra(&e.tree)?),
                None => None,
            };
            Ok((tree, extra_tree, record))
        })();
        let Run {
            writer,
            mut summary,
            warnings,
            mut tracker,
            ..
        } = run;
        let (tree, extra_tree, record) = match walked {
            Ok(t) => t,
            Err(e) => {
                // Keep what was stored: finished packs get indexed, so the next run reuses them.
                let _ = writer.finish(false);
                return Err(e);
            }
        };
        let (stats, _) = writer.finish(true)?;
        let (source, extra) = match record {
            Some((source, extra)) => (source, Some(extra.meta)),
            None => (
                options.source.clone(),
                options.extra.as_ref().map(|e| e.meta.clone()),
            ),
        };
        summary.blobs_added = stats.blobs;
        summary.bytes_added = stats.raw;
        summary.bytes_stored = stats.stored;
        summary.duration_secs = started.elapsed().as_secs_f64();
        let mut snapshot = Snapshot {
            id: Id::default(),
            version: 1,
            time,
            host,
            tags: options.tags.clone(),
            paths: path_strings,
            source: if source.kind.is_empty() {
                SourceInfo {
                    kind: "folder".into(),
                    description: String::new(),
                }
            } else {
                source
            },
            tree,
            parent: parent.map(|p| p.id),
            summary,
            extra,
            extra_tree,
            original: None,
            program: format!("chatvault {}", env!("CARGO_PKG_VERSION")),
        };
        self.verify_reused_data_survived(&index_files, snapshot.roots(), cancel)?;
        snapshot.id = self.save_snapshot(&snapshot)?;
        tracker.p.phase = Phase::Finished;
        tracker.report(true);
        Ok(BackupResult { snapshot, warnings })
    }
}

impl Repository {
    /// A blob writer into this repository with `threads` workers (0: one per core).
    pub(crate) fn start_writer(&self, threads: usize) -> Result<BlobWriter> {
        let threads = if threads == 0 {
            super::cores()
        } else {
            threads
        };
        BlobWriter::start(
            self.storage.clone(),
            self.codec.clone(),
            self.cipher.clone(),
            self.config.pack_size,
            threads,
        )
    }

    /// Before committing: if index files this backup started from are gone, a prune ran in
    /// the meantime (possible only if this backup's lock went stale, e.g. a phone asleep for
    /// 30 minutes mid-backup). Then every blob the new snapshot references must still exist,
    /// or the snapshot is not written: nothing is lost, and the next run stores what is
    /// missing again.
    pub(crate) fn verify_reused_data_survived(
        &self,
        index_files: &[String],
        roots: Vec<Id>,
        cancel: &CancelToken,
    ) -> Result<()> {
        let now: HashSet<String> = self
            .storage
            .list(ObjectKind::Index)?
            .into_iter()
            .map(|o| o.name)
            .collect();
        if index_files.iter().all(|f| now.contains(f)) {
            return Ok(());
        }
        let (fresh, _) = self.load_index(false)?;
        let complete = self
            .reachable_blobs(&fresh, roots, cancel)
            .map(|marks| marks.missing().is_empty());
        match complete {
            Ok(true) => Ok(()),
            Err(Error::Cancelled) => Err(Error::Cancelled),
            _ => Err(Error::Locked(
                "a prune ran while this backup was paused and removed data it reused; no snapshot was written, run the backup again".into(),
            )),
        }
    }
}

fn scan(path: &Path, tracker: &mut Tracker, cancel: &CancelToken) -> Result<()> {
    cancel.check()?;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.is_file() {
        tracker.p.files_total += 1;
        tracker.p.bytes_total += meta.len();
        tracker.report(false);
    } else if meta.is_dir() {
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                scan(&e.path(), tracker, cancel)?;
            }
        }
    }
    Ok(())
}

impl<'a> Run<'a> {
    fn new(
        repo: &'a Repository,
        index: Index,
        writer: BlobWriter,
        tracker: Tracker<'a>,
        cancel: &'a CancelToken,
    ) -> Self {
        Run {
            repo,
            index,
            seen: IdSet::new(repo.work_dir()),
            writer,
            tracker,
            cancel,
            page_sizes: Vec::new(),
            force_read: false,
            exclude_media: false,
            summary: SnapshotSummary::default(),
            warnings: Vec::new(),
            window: Vec::new(),
            depth: 0,
        }
    }

    /// Stores an extra tree's files (not counted in the backed-up paths' totals); returns
    /// the tree.
    fn store_extra(&mut self, extra: &ExtraTree) -> Result<Id> {
        let (path, name, kept) = match extra {
            ExtraTree::Stored(id) => return Ok(*id),
            ExtraTree::File { path, name, kept } => (path, name, kept),
        };
        let meta = fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
        let totals = self.summary.clone();
        let node = self.entry(path, std::ffi::OsStr::new(name), &meta, None)?;
        self.summary = totals;
        let mut nodes: Vec<Node> = node.into_iter().collect();
        if !kept.paths.is_empty() {
            if let Some(found) = super::kept::find_kept(self.repo, &self.index, kept)? {
                nodes.push(found.save(&mut |t| self.save_tree(t))?);
            }
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.save_tree(Tree { nodes })
    }
}

impl Repository {
    /// Stores `extra` as a tree on its own, outside any backup (a snapshot's extra part
    /// rewritten: [`Repository::replace_extra`]). The caller holds the repository's lock.
    pub(crate) fn store_extra_tree(&self, extra: &ExtraTree, cancel: &CancelToken) -> Result<Id> {
        let (index, _) = self.load_index(false)?;
        let writer = self.start_writer(0)?;
        let mut run = Run::new(
            self,
            index,
            writer,
            Tracker::new(None, Phase::Backup),
            cancel,
        );
        let stored = run.store_extra(extra);
        let Run { writer, .. } = run;
        match stored {
            Ok(id) => {
                writer.finish(true)?;
                Ok(id)
            }
            Err(e) => {
                let _ = writer.finish(false);
                Err(e)
            }
        }
    }
}

impl Run<'_> {
    fn blob(&mut self, kind: BlobKind, data: Vec<u8>, compress: bool) -> Result<Id> {
        let id = self.repo.codec.id(&data);
        if self.is_new(id)? {
            self.writer.add(kind, id, data, compress)?;
        } else {
            self.writer.buffers().give(data);
        }
        Ok(id)
    }

    /// Whether blob `id` is neither in the repository nor already added by this run (then
    /// it counts as added).
    fn is_new(&mut self, id: Id) -> Result<bool> {
        Ok(!self.index.contains(&id)? && self.seen.insert(id)?)
    }

    /// Stores `tree`, encoded node by node into a [`BlobBuilder`] (its nodes dropped before
    /// it is sealed).
    fn save_tree(&mut self, tree: Tree) -> Result<Id> {
        let mut out = TreeEncoder::new(self.repo.codec.builder()).map_err(encode_error)?;
        for n in &tree.nodes {
            out.push(n).map_err(encode_error)?;
        }
        drop(tree);
        self.store_tree(out)
    }

    /// Stores a tree encoded as it was walked, unless the repository has it (most trees
    /// are the parent's again).
    fn store_tree(&mut self, out: TreeEncoder<BlobBuilder>) -> Result<Id> {
        let (id, built) = out.finish().map_err(encode_error)?.finish()?;
        if !self.is_new(id)? {
            return Ok(id);
        }
        match built {
            Built::Plain(json) => self.writer.add(BlobKind::Tree, id, json, true)?,
            Built::Compressed { frame, raw_length } => {
                self.writer
                    .add_frame(BlobKind::Tree, id, frame, raw_length)?
            }
        }
        Ok(id)
    }

    fn warn(&mut self, msg: String) {
        log::warn!("{msg}");
        self.warnings.push(msg);
    }

    fn entry(
        &mut self,
        path: &Path,
        name: &std::ffi::OsStr,
        meta: &Metadata,
        prev: Option<&Node>,
    ) -> Result<Option<Node>> {
        self.cancel.check()?;
        let (name, name_bytes) = node_name(name);
        let ft = meta.file_type();
        let mut node = if ft.is_dir() {
            if self.depth + 1 >= super::tree::MAX_DEPTH {
                self.summary.files_unreadable += 1;
                self.warn(format!(
                    "{} is nested deeper than {} folders; it is left out",
                    path.display(),
                    super::tree::MAX_DEPTH
                ));
                return Ok(None);
            }
            // The previous tree is read as the folder is walked (both in name order): a
            // folder of 100,000 photos held its previous nodes, its new ones and the new
            // JSON at once (20 + 19 + 20 MB).
            let mut prev_json = match prev.and_then(|p| p.subtree) {
                Some(id) => self.repo.open_tree(&self.index, &id).ok(),
                None => None,
            };
            let mut prev_nodes = prev_json.as_mut().map(NodeStream::new);
            self.depth += 1;
            let tree = self.dir(path, prev_nodes.as_mut());
            self.depth -= 1;
            drop(prev_nodes);
            let Some(tree) = tree? else {
                return Ok(None);
            };
            if let Some(Err(e)) = prev_json.map(BlobReader::finish) {
                // Authenticated (the seal binds the id), so what was taken from it is this
                // repository's; only the checks after it failed.
                self.warn(format!(
                    "the previous backup's tree of {}: {e}",
                    path.display()
                ));
            }
            self.summary.dirs += 1;
            let mut n = Node::new(name, NodeKind::Dir);
            n.subtree = Some(self.store_tree(tree)?);
            n
        } else if ft.is_file() {
            match self.file(path, meta, prev)? {
                Some(mut n) => {
                    n.name = name;
                    n
                }
                None => return Ok(None),
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| Error::io("read link", path, e))?;
            let mut n = Node::new(name, NodeKind::Symlink);
            n.target = Some(target.to_string_lossy().into_owned());
            n
        } else {
            log::info!("skipping special file {}", path.display());
            return Ok(None);
        };
        node.name_bytes = name_bytes;
        node.mtime_ns = mtime_ns(meta);
        node.mode = mode_of(meta);
        Ok(Some(node))
    }

    /// Walks a folder beside its previous tree's nodes; returns its tree, encoded.
    fn dir(
        &mut self,
        path: &Path,
        mut prev: Option<&mut NodeStream<&mut BlobReader>>,
    ) -> Result<Option<TreeEncoder<BlobBuilder>>> {
        let entries = match fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                self.summary.files_unreadable += 1;
                self.warn(format!("cannot read directory {}: {e}", path.display()));
                return Ok(None);
            }
        };
        // Names only: a full path each made a folder of 100,000 files hold 9 MB more.
        let mut list: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        list.sort();
        // UTF-8 names sort as their bytes do, so the entries come in the tree's order and
        // each node is encoded as it is made. A name that is not UTF-8 is stored as its
        // lossy rendering, whose order may differ: such a folder's nodes are held, sorted,
        // and its previous tree read whole.
        let in_order = list.iter().all(|n| n.to_str().is_some());
        let mut held = Vec::new();
        let mut prev_whole = None;
        if !in_order {
            if let Some(stream) = prev.take() {
                prev_whole = stream.rest().ok();
            }
        }
        let prev_lookup = prev_whole.as_ref().map(Tree::lookup);
        let mut out = TreeEncoder::new(self.repo.codec.builder()).map_err(encode_error)?;
        for name in list {
            let child = path.join(&name);
            let meta = match fs::symlink_metadata(&child) {
                Ok(m) => m,
                Err(e) => {
                    self.summary.files_unreadable += 1;
                    self.warn(format!("cannot stat {}: {e}", child.display()));
                    continue;
                }
            };
            let (key, key_bytes) = node_name(&name);
            let streamed = match prev.as_mut().map(|s| s.take(&key, key_bytes.as_deref())) {
                Some(Ok(n)) => n,
                Some(Err(e)) => {
                    self.warn(format!(
                        "the previous backup's tree of {}: {e} (its files are read again)",
                        path.display()
                    ));
                    prev = None;
                    None
                }
                None => None,
            };
            let prev_node = streamed.as_ref().or_else(|| {
                prev_lookup
                    .as_ref()
                    .and_then(|t| t.get(&key, key_bytes.as_deref()))
            });
            if let Some(n) = self.entry(&child, &name, &meta, prev_node)? {
                if in_order {
                    out.push(&n).map_err(encode_error)?;
                } else {
                    held.push(n);
                }
            }
        }
        held.sort_by(|a, b| a.name.cmp(&b.name));
        for n in &held {
            out.push(n).map_err(encode_error)?;
        }
        Ok(Some(out))
    }

    /// The previous node's content, if the file looks unchanged and its blobs still exist.
    fn unchanged(&self, meta: &Metadata, prev: Option<&Node>) -> Option<Node> {
        let p = prev?;
        let same = !self.force_read
            && p.kind == NodeKind::File
            && p.size == meta.len()
            && p.mtime_ns == mtime_ns(meta);
        // An unreadable index counts as absent: the file is read again.
        let present = p
            .content
            .iter()
            .chain(&p.content_lists)
            .all(|id| self.index.contains(id).unwrap_or(false));
        (same && present).then(|| p.clone())
    }

    fn file(&mut self, path: &Path, meta: &Metadata, prev: Option<&Node>) -> Result<Option<Node>> {
        if self.exclude_media && is_media(path) {
            return Ok(None);
        }
        self.summary.files += 1;
        self.summary.bytes += meta.len();
        self.tracker.p.current = path.display().to_string();
        if let Some(n) = self.unchanged(meta, prev) {
            self.tracker.p.files_done += 1;
            self.tracker.p.bytes_done += meta.len();
            self.tracker.skipped += meta.len();
            self.tracker.report(false);
            return Ok(Some(n));
        }
        match self.read_file(path) {
            Ok((chunking, mut content, size)) => {
                self.summary.files_read += 1;
                self.tracker.p.files_done += 1;
                self.tracker.report(false);
                let mut n = Node::new(String::new(), NodeKind::File);
                n.size = size;
                n.chunking = Some(chunking);
                if content.lists.is_empty() && content.pending.len() <= INLINE_IDS {
                    n.content = content.pending;
                } else {
                    if !content.pending.is_empty() {
                        let list = self.list_blob(&content.pending)?;
                        content.lists.push(list);
                    }
                    n.content_lists = content.lists;
                }
                Ok(Some(n))
            }
            Err(Error::Io { op, path, source }) => {
                self.summary.files -= 1;
                self.summary.bytes -= meta.len();
                self.summary.files_unreadable += 1;
                self.warn(format!(
                    "cannot {op} {}: {source} (left out of this snapshot)",
                    path.display()
                ));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A list blob of content ids.
    fn list_blob(&mut self, ids: &[Id]) -> Result<Id> {
        let bytes: Vec<u8> = ids.iter().flat_map(|i| i.0).collect();
        self.blob(BlobKind::List, bytes, false)
    }

    /// Chunks a file. Returns how it was cut, its content ids and the bytes read.
    fn read_file(&mut self, path: &Path) -> Result<(Chunking, ContentIds, u64)> {
        let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut head = vec![0u8; 4096];
        let mut got = 0;
        while got < head.len() {
            match f.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read", path, e)),
            }
        }
        head.truncate(got);
        // Resolve the path once (only when the caller named encrypted databases).
        let hinted = match self.page_sizes.is_empty() {
            true => None,
            false => fs::canonicalize(path).ok().and_then(|c| {
                self.page_sizes
                    .iter()
                    .find(|(p, _)| *p == c)
                    .map(|(_, s)| *s)
            }),
        };
        let (chunking, compress) = match (hinted, sqlite_page_size(&head)) {
            (Some(size), _) => (Chunking::Pages(size), false),
            (None, Some(size)) => (Chunking::Pages(size), true),
            (None, None) => (Chunking::Cdc, !is_dense(path, &head)),
        };
        let params = self.repo.config.chunker;
        let mut content = ContentIds::default();
        let mut total = 0u64;
        let window = std::mem::take(&mut self.window);
        let mut chunker =
            Chunker::with_window(Cursor::new(head).chain(f), chunking, &params, window);
        loop {
            self.cancel.check()?;
            let mut chunk = self.writer.buffers().take();
            if !chunker
                .next_into(&mut chunk)
                .map_err(|e| Error::io("read", path, e))?
            {
                self.writer.buffers().give(chunk);
                break;
            }
            total += chunk.len() as u64;
            self.tracker.p.bytes_done += chunk.len() as u64;
            self.tracker.report(false);
            let id = self.blob(BlobKind::Data, chunk, compress)?;
            content.pending.push(id);
            if content.pending.len() == IDS_PER_LIST {
                let list = self.list_blob(&content.pending)?;
                content.lists.push(list);
                content.pending.clear();
            }
        }
        self.window = chunker.into_window();
        Ok((chunking, content, total))
    }
}
