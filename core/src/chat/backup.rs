//! Backing up a chat app's data (a source): the source's files as they are, and beside
//! them its chat index (read on another thread while the files are stored) and summary, as
//! the snapshot's extra tree and metadata.

use std::fs;
use std::path::Path;
use std::sync::mpsc;

use super::index_cache::IndexCache;
use super::source_rows::{RecordedRows, RememberedRows, Remembering};
use super::writer_thread::WriterThread;
use super::{summary_of, ChatIndexWriter, ChatSummary, ARCHIVE_DIR, INDEX_FILE};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, ProgressListener};
use crate::repo::backup::{BackupOptions, BackupResult, Extra, ExtraTree};
use crate::repo::kept::KeptFiles;
use crate::repo::snapshot::{ExtraMeta, SourceInfo};
use crate::repo::Repository;
use crate::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKey, Message, RowHasher,
};
use crate::sources::{self, SourceKind, SourceOptions};
use crate::temp::private_temp_dir;

/// The result of backing up a chat export.
#[derive(Debug, Clone)]
pub struct SourceBackup {
    /// The snapshot and warnings.
    pub backup: BackupResult,
    /// What the export was.
    pub kind: SourceKind,
    /// The chat summary recorded in the snapshot (none for plain folders).
    pub summary: Option<ChatSummary>,
    /// The export was unchanged since the last backup, so its chat index was reused
    /// instead of reading every message again.
    pub index_reused: bool,
    /// The last backup's chat index was carried forward (messages already in it not
    /// written again, those the phone no longer has kept): what happened to the messages.
    pub index_resumed: Option<super::ResumeCounts>,
    /// How the last backup's chat index got here to be carried forward: bytes of it this
    /// device had kept from its own last backup of the export (checked page by page
    /// against the repository's) and bytes read back from the repository.
    pub index_carried: Option<CarriedBytes>,
    /// What the reader noticed about the content (a contacts database missing, lines kept
    /// as unparsed, media a chat names but the export lacks): information about the chats,
    /// not files left out, which are `backup.warnings`.
    pub notices: Vec<String>,
}

/// Where a carried-forward chat index came from, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CarriedBytes {
    /// Kept on this device since its last backup of the export (the repository's cache
    /// folder), the same as the repository's.
    pub kept: u64,
    /// Read back from the repository.
    pub read: u64,
}

/// Backs up a chat export (or any folder): detects or takes its kind, reads it into a
/// chat index, and writes one snapshot holding the export as it is plus the index.
///
/// The index is built in a private temporary folder under `work_dir` (the app's cache
/// directory on phones; default: the system's temporary folder) and removed afterwards.
/// Reading fails before anything is written if the export cannot be read (wrong key,
/// damaged database, not an export of the given kind).
pub fn backup_source(
    repo: &Repository,
    path: &Path,
    source: &SourceOptions,
    options: &BackupOptions,
    work_dir: Option<&Path>,
    listener: Option<&dyn ProgressListener>,
    cancel: &CancelToken,
) -> Result<SourceBackup> {
    let mut opts = source.clone();
    if opts.work_dir.is_none() {
        opts.work_dir = work_dir.map(Path::to_path_buf);
    }
    let export = sources::open(path, &opts)?;
    let kind = export.kind();
    let mut options = options.clone();
    if kind == SourceKind::Folder {
        options.source = SourceInfo {
            kind: kind.as_str().into(),
            description: String::new(),
        };
        let backup = repo.backup(&[path.to_path_buf()], &options, listener, cancel)?;
        return Ok(SourceBackup {
            backup,
            kind,
            summary: None,
            index_reused: false,
            index_resumed: None,
            index_carried: None,
            notices: Vec::new(),
        });
    }
    let fingerprint = source_fingerprint(path, kind)?;
    let host = options.host.clone().unwrap_or_else(crate::repo::hostname);
    let abs = fs::canonicalize(path).map_err(|e| Error::io("open", path, e))?;
    let parent = parent_snapshot(repo, &host, &abs)?;
    // The parent's chat summary, read once: whether the export is unchanged since, and
    // whether the parent is of this app. The backup then holds the parent without it.
    let parent_summary = match &parent {
        Some(p) if p.extra.is_some() => summary_of(&repo.full_snapshot(p)?),
        _ => None,
    };
    let parent = parent.filter(|_| {
        parent_summary
            .as_ref()
            .is_some_and(|s| s.app == kind.as_str())
    });
    let unchanged = if options.force_read {
        None
    } else {
        unchanged_parent(parent.as_ref(), parent_summary, &fingerprint)
    };
    if let Some((tree, mut summary)) = unchanged {
        log::info!("export unchanged since the last backup: its chat index is reused");
        summary.fingerprint = Some(fingerprint);
        options.source = SourceInfo {
            kind: kind.as_str().into(),
            description: snapshot_description(&summary),
        };
        options.extra = Some(Extra {
            meta: ExtraMeta::of(&summary)?,
            tree: ExtraTree::Stored(tree),
        });
        let backup = repo.backup(&[path.to_path_buf()], &options, listener, cancel)?;
        return Ok(SourceBackup {
            backup,
            kind,
            summary: Some(summary),
            index_reused: true,
            index_resumed: None,
            index_carried: None,
            notices: Vec::new(),
        });
    }
    let cache = IndexCache::of(repo, &host, &abs, kind.as_str());
    // Built beside the cache, keeping it afterwards is a rename.
    let dir = private_temp_dir(work_dir.or_else(|| cache.as_ref()?.folder()))?;
    let index_path = dir.path().join(INDEX_FILE);
    options.page_sizes.extend(export.encrypted_databases());
    backup_reading(
        repo,
        path,
        export,
        &opts,
        kind,
        &options,
        &fingerprint,
        &index_path,
        parent.as_ref(),
        cache.as_ref(),
        work_dir,
        listener,
        cancel,
    )
}

/// Restores the parent snapshot's chat index (a parent of the same app: the caller
/// checks) as `index_file`, so the new index resumes it; whether it did. The index this device kept from its last
/// backup of the source (`cache`) is brought up to the parent's, reading only the pages
/// that differ; without one, or if that fails, the index is restored in full. A parent
/// whose index cannot be restored (damaged) is not resumed: the index is built anew and
/// the backup says why in the log.
///
/// Carried forward even when every file is read again (`force_read`): the archive must not
/// be lost, and changed messages are rewritten anyway.
fn carried_index(
    repo: &Repository,
    parent: &crate::repo::snapshot::Snapshot,
    index_file: &Path,
    cache: Option<&IndexCache>,
    cancel: &CancelToken,
) -> Result<Option<CarriedBytes>> {
    let Some(extra_tree) = parent.extra_tree else {
        return Ok(None);
    };
    let dir = index_file
        .parent()
        .ok_or_else(|| Error::internal("the chat index has no folder"))?;
    let started = std::time::Instant::now();
    if cache.is_some_and(|c| c.take(index_file)) {
        match repo.patch_file(&extra_tree, INDEX_FILE, index_file, cancel) {
            Ok(p) => {
                log::info!(
                    "the chat index of snapshot {} carried forward from this device's copy ({} bytes kept, {} read) in {:.1}s",
                    parent.id.short(),
                    p.kept,
                    p.read,
                    started.elapsed().as_secs_f64()
                );
                return Ok(Some(CarriedBytes {
                    kept: p.kept,
                    read: p.read,
                }));
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => {
                log::warn!(
                    "the chat index kept on this device could not be brought up to snapshot {}'s ({e}): it is restored in full",
                    parent.id.short()
                );
                fs::remove_file(index_file).map_err(|e| Error::io("remove", index_file, e))?;
            }
        }
    }
    let restored = super::snapshot_chats::restore_index(repo, &extra_tree, dir, cancel);
    match restored {
        Err(Error::Cancelled) => Err(Error::Cancelled),
        Ok(r) if r.damaged.is_empty() && index_file.is_file() => {
            log::info!(
                "the chat index of snapshot {} restored to carry it forward ({} bytes) in {:.1}s",
                parent.id.short(),
                r.bytes,
                started.elapsed().as_secs_f64()
            );
            Ok(Some(CarriedBytes {
                kept: 0,
                read: r.bytes,
            }))
        }
        Ok(_) | Err(_) => {
            log::warn!(
                "the chat index of snapshot {} could not be restored: this backup builds a new one",
                parent.id.short()
            );
            let _ = fs::remove_file(index_file);
            Ok(None)
        }
    }
}

/// Backs up the export at `path` while its reader fills a new chat index at
/// `index_path` on another thread (carrying forward `parent`'s); the snapshot is written
/// once both are done. Either side failing stops the other.
#[allow(clippy::too_many_arguments)]
fn backup_reading(
    repo: &Repository,
    path: &Path,
    export: Box<dyn sources::Source>,
    source: &SourceOptions,
    kind: SourceKind,
    options: &BackupOptions,
    fingerprint: &str,
    index_path: &Path,
    parent: Option<&crate::repo::snapshot::Snapshot>,
    cache: Option<&IndexCache>,
    work_dir: Option<&Path>,
    listener: Option<&dyn ProgressListener>,
    cancel: &CancelToken,
) -> Result<SourceBackup> {
    let abort = cancel.child();
    std::thread::scope(|scope| {
        let (opened_tx, opened_rx) = mpsc::channel::<()>();
        let (built_tx, built_rx) = mpsc::sync_channel::<Result<BuiltIndex>>(1);
        let reader_abort = abort.clone();
        std::thread::Builder::new()
            .name("chatvault-read".into())
            .spawn_scoped(scope, move || {
                let built = read_source(
                    repo,
                    path,
                    export,
                    source,
                    kind,
                    index_path,
                    parent,
                    cache,
                    !options.force_read,
                    work_dir,
                    options.time,
                    opened_tx,
                    &reader_abort,
                );
                if built.is_err() {
                    reader_abort.cancel();
                }
                let _ = built_tx.send(built);
            })
            .map_err(|e| Error::internal_from("cannot start the export reader", e))?;
        let reader_gone = |_| Error::internal("the export reader stopped without a result");
        // Nothing is written before the reader has understood the export (opened the
        // database with its key, found its tables): a wrong key or a file that is not an
        // export fails here. A reader done before that failed, or read an empty export.
        let ready = match opened_rx.recv() {
            Ok(()) => None,
            Err(_) => Some(built_rx.recv().map_err(reader_gone)??),
        };
        let mut built: Option<BuiltIndex> = None;
        let pending = Box::new(|| {
            let mut b = match ready {
                Some(b) => b,
                None => built_rx.recv().map_err(reader_gone)??,
            };
            b.summary.fingerprint = Some(fingerprint.to_string());
            let source = SourceInfo {
                kind: kind.as_str().into(),
                description: snapshot_description(&b.summary),
            };
            // Media the export no longer has are kept from the parent snapshot (whose
            // index was carried forward): from its export, or from its own archive folder.
            let carried = parent
                .filter(|_| b.resumed.is_some())
                .and_then(|p| Some((p.tree, p.extra_tree?)));
            let kept = match carried {
                Some((tree, extra_tree)) if !b.kept_media.is_empty() => KeptFiles {
                    dir: ARCHIVE_DIR.into(),
                    from: vec![(tree, String::new()), (extra_tree, ARCHIVE_DIR.into())],
                    paths: b
                        .kept_media
                        .iter()
                        .map(|p| format!("{}/{p}", b.summary.root))
                        .collect(),
                },
                _ => KeptFiles::default(),
            };
            let extra = Extra {
                meta: ExtraMeta::of(&b.summary)?,
                tree: ExtraTree::File {
                    path: index_path.to_path_buf(),
                    name: INDEX_FILE.into(),
                    kept,
                },
            };
            built = Some(b);
            Ok((source, extra))
        });
        let result = repo.backup_with(
            &[path.to_path_buf()],
            options,
            Some(pending),
            listener,
            &abort,
        );
        let backup = match result {
            Ok(b) => b,
            Err(e) => {
                abort.cancel();
                // A reader that failed on its own explains the stop better than the
                // backup's "cancelled".
                return match built_rx.recv() {
                    Ok(Err(read)) if !matches!(read, Error::Cancelled) => Err(read),
                    _ => Err(e),
                };
            }
        };
        let Some(built) = built else {
            return Err(Error::internal("backup finished without its chat index"));
        };
        if let Some(c) = cache {
            c.keep(index_path);
            if let (Some(rows), Some(tree)) = (built.rows, backup.snapshot.extra_tree) {
                rows.keep(&tree, &c.rows_file());
            }
        }
        Ok(SourceBackup {
            backup,
            kind,
            summary: Some(built.summary),
            index_reused: false,
            index_resumed: built.resumed,
            index_carried: built.carried,
            notices: built.warnings,
        })
    })
}

fn snapshot_description(summary: &ChatSummary) -> String {
    if summary.account.name.is_empty() {
        summary.account.id.clone()
    } else {
        summary.account.name.clone()
    }
}

/// A hash of every file's relative path, size and modification time under `path`, the
/// source kind and this program's version. Equal fingerprints mean the reader would
/// produce the same index.
fn source_fingerprint(path: &Path, kind: SourceKind) -> Result<String> {
    fn walk(dir: &Path, rel: &str, h: &mut blake3::Hasher) -> Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(|e| Error::io("read directory", dir, e))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = format!("{rel}/{}", e.file_name().to_string_lossy());
            let meta =
                fs::symlink_metadata(e.path()).map_err(|x| Error::io("stat", e.path(), x))?;
            if meta.is_dir() {
                walk(&e.path(), &child, h)?;
            } else {
                entry(&child, &meta, h);
            }
        }
        Ok(())
    }
    fn entry(rel: &str, meta: &fs::Metadata, h: &mut blake3::Hasher) {
        h.update(rel.as_bytes());
        h.update(&[0]);
        h.update(&meta.len().to_le_bytes());
        h.update(&crate::repo::backup::mtime_ns(meta).to_le_bytes());
    }
    let mut h = blake3::Hasher::new();
    h.update(concat!("chatvault ", env!("CARGO_PKG_VERSION"), " chat index\0").as_bytes());
    h.update(kind.as_str().as_bytes());
    let meta = fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
    if meta.is_dir() {
        walk(path, "", &mut h)?;
    } else {
        entry("", &meta, &mut h);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// The parent snapshot's chat index and summary, if the export is unchanged since it.
/// The parent's chat index and summary, when the export is as it was then.
fn unchanged_parent(
    parent: Option<&crate::repo::snapshot::Snapshot>,
    summary: Option<ChatSummary>,
    fingerprint: &str,
) -> Option<(crate::repo::id::Id, ChatSummary)> {
    let summary = summary?;
    let tree = parent?.extra_tree?;
    (summary.fingerprint.as_deref() == Some(fingerprint)).then_some((tree, summary))
}

/// The newest snapshot of the same host and (canonical) path, as listed (without its chat
/// summary).
fn parent_snapshot(
    repo: &Repository,
    host: &str,
    abs: &Path,
) -> Result<Option<crate::repo::snapshot::Snapshot>> {
    let paths = vec![abs.to_string_lossy().into_owned()];
    Ok(repo
        .snapshots()?
        .into_iter()
        .rev()
        .find(|s| s.host == host && s.paths == paths))
}

/// A chat index read from an export, and what the reader warned about.
struct BuiltIndex {
    summary: ChatSummary,
    warnings: Vec<String>,
    /// Media paths (inside the export) its messages hold as stored that the export lacks.
    kept_media: Vec<String>,
    resumed: Option<super::ResumeCounts>,
    carried: Option<CarriedBytes>,
    /// The export's rows as read, to remember once the snapshot is stored.
    rows: Option<RecordedRows>,
}

/// Reads the export at `path` into the chat index at `index_file`: `parent`'s, carried
/// forward, if it has one of this app (and it can be restored), else a new one. Sends on
/// `opened` once the reader has understood the export; stops when `cancel` is cancelled.
///
/// The parent's index is restored on the writer's thread while the export is opened and
/// read (what is read waits for it) and, once the reader has understood the export, while
/// the backup stores the export's files.
///
/// With a `cache`, the rows the last backup read are remembered there
/// ([`super::source_rows`]): unless `skip_rows` is false (every file read again), the
/// reader skips those unchanged, and the rows read are recorded for the next backup. If
/// the remembered rows do not hold (damaged, or the parent's index could not be carried
/// forward after all), the export is opened again (`source`) and read in full.
#[allow(clippy::too_many_arguments)]
fn read_source(
    repo: &Repository,
    path: &Path,
    export: Box<dyn sources::Source>,
    source: &SourceOptions,
    kind: SourceKind,
    index_file: &Path,
    parent: Option<&crate::repo::snapshot::Snapshot>,
    cache: Option<&IndexCache>,
    skip_rows: bool,
    work_dir: Option<&Path>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    opened: mpsc::Sender<()>,
    cancel: &CancelToken,
) -> Result<BuiltIndex> {
    let started = std::time::Instant::now();
    let remembered = |skipping: bool| {
        cache.map(|c| {
            parent
                .filter(|_| skipping)
                .and_then(|p| p.extra_tree)
                .and_then(|tree| RememberedRows::open(&c.rows_file(), &tree))
        })
    };
    let mut opened = Some(opened);
    let reading = Reading {
        repo,
        kind,
        index_file,
        parent,
        cache,
        work_dir,
        time,
        cancel,
    };
    let read = match reading.read(export, remembered(skip_rows), &mut opened)? {
        Some(read) => read,
        None => {
            log::warn!(
                "the rows remembered from the last backup did not hold: the export is read again in full"
            );
            if index_file.exists() {
                fs::remove_file(index_file).map_err(|e| Error::io("remove", index_file, e))?;
            }
            let export = sources::open(path, source)?;
            reading
                .read(export, remembered(false), &mut opened)?
                .ok_or_else(|| Error::internal("rows were skipped without remembered rows"))?
        }
    };
    let ((writer, skipped, carried), outcome) = read;
    let warnings = writer.warnings().to_vec();
    let (finished, rows) = writer.finish_with_rows(kind.as_str())?;
    let mut summary = finished.summary;
    // Media still in the export are stored with it; the rest are kept from earlier
    // snapshots (a zipped export's media are not kept apart from it).
    let kept_media: Vec<String> = if path.is_dir() {
        finished
            .kept_media
            .into_iter()
            .filter(|p| !path.join(p).exists())
            .collect()
    } else {
        Vec::new()
    };
    summary.kept_media = kept_media.len() as u64;
    summary.root = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    summary.opened_with = outcome.opened_with;
    log::info!(
        "chat index: {} messages in {} conversations ({} no longer on the phone), {} bytes, {} in {:.1}s{}",
        summary.messages,
        summary.conversations.len(),
        summary.archived,
        fs::metadata(index_file).map(|m| m.len()).unwrap_or(0),
        if finished.resumed.is_some() { "carried forward" } else { "built" },
        started.elapsed().as_secs_f64(),
        finished
            .resumed
            .map(|c| format!(
                " ({} unchanged, {} of them skipped unread, {} changed, {} new, {} gone)",
                c.unchanged, skipped, c.changed, c.new, c.gone
            ))
            .unwrap_or_default()
    );
    super::index::log_sqlite_memory();
    Ok(BuiltIndex {
        summary,
        warnings,
        kept_media,
        resumed: finished.resumed,
        carried,
        rows,
    })
}

/// One read of an export into a chat index ([`read_source`]).
struct Reading<'a> {
    repo: &'a Repository,
    kind: SourceKind,
    index_file: &'a Path,
    parent: Option<&'a crate::repo::snapshot::Snapshot>,
    cache: Option<&'a IndexCache>,
    work_dir: Option<&'a Path>,
    time: Option<chrono::DateTime<chrono::Utc>>,
    cancel: &'a CancelToken,
}

/// What a read produced: the writer, the rows it skipped, what carrying the parent's
/// index forward cost.
type Read = (ChatIndexWriter, u64, Option<CarriedBytes>);

impl Reading<'_> {
    /// Reads `export` (skipping the rows `remembered` unchanged, recording them when
    /// `Some`); `None` when skipped rows did not hold and the read must be done again.
    fn read(
        &self,
        export: Box<dyn sources::Source>,
        remembered: Option<Option<RememberedRows>>,
        opened: &mut Option<mpsc::Sender<()>>,
    ) -> Result<Option<(Read, sources::ReadOutcome)>> {
        let Reading {
            repo,
            kind,
            index_file,
            parent,
            cache,
            work_dir,
            time,
            cancel,
        } = *self;
        let writer_cancel = cancel.child();
        let carried = std::sync::OnceLock::new();
        let open_writer = || {
            let parents = match parent {
                Some(p) => carried_index(repo, p, index_file, cache, &writer_cancel)?,
                None => None,
            };
            let resumed = match parents {
                Some(bytes) => {
                    let w = ChatIndexWriter::resume(index_file, kind.as_str(), work_dir)?;
                    if w.is_some() {
                        let _ = carried.set(bytes);
                    }
                    w
                }
                None => None,
            };
            let mut writer = match resumed {
                Some(w) => w,
                None => {
                    if index_file.exists() {
                        fs::remove_file(index_file)
                            .map_err(|e| Error::io("remove", index_file, e))?;
                    }
                    ChatIndexWriter::create(index_file)?
                }
            };
            if let Some(t) = time {
                writer.set_time(t.timestamp_millis());
            }
            Ok(writer)
        };
        let (writer, skipped, sound, outcome) = std::thread::scope(|scope| {
            let mut sink = Announcing {
                inner: Remembering::new(WriterThread::spawn(scope, open_writer)?, remembered),
                opened,
                cancel,
            };
            // A reader that fails stops the writer (it may still be restoring the parent's
            // index) before the scope waits for it.
            let read = export
                .read(&mut sink)
                .and_then(|o| cancel.check().map(|()| o));
            let outcome = match read {
                Ok(o) => o,
                Err(e) => {
                    writer_cancel.cancel();
                    return Err(e);
                }
            };
            let (inner, skipped, sound) = sink.inner.finish();
            Ok::<_, Error>((inner.finish()?, skipped, sound, outcome))
        })?;
        let sound = sound && writer.rows_sound();
        Ok(sound.then(|| ((writer, skipped, carried.into_inner()), outcome)))
    }
}

/// Hands what a reader reads to the index writer; announces the first thing read, and
/// stops the reader once the backup it runs beside is cancelled or has failed.
struct Announcing<'a, S: ChatSink> {
    inner: S,
    opened: &'a mut Option<mpsc::Sender<()>>,
    cancel: &'a CancelToken,
}

impl<S: ChatSink> Announcing<'_, S> {
    fn delivered(&mut self) -> Result<()> {
        if let Some(opened) = self.opened.take() {
            let _ = opened.send(());
        }
        self.cancel.check()
    }
}

impl<S: ChatSink> ChatSink for Announcing<'_, S> {
    fn account(&mut self, account: &Account) -> Result<()> {
        self.delivered()?;
        self.inner.account(account)
    }
    fn contact(&mut self, contact: &Contact) -> Result<()> {
        self.delivered()?;
        self.inner.contact(contact)
    }
    fn conversation(&mut self, conversation: &Conversation) -> Result<()> {
        self.delivered()?;
        self.inner.conversation(conversation)
    }
    fn message(&mut self, message: Message) -> Result<()> {
        self.delivered()?;
        self.inner.message(message)
    }
    fn warning(&mut self, warning: String) {
        self.inner.warning(warning)
    }
    fn media_key(&mut self, path: &str, key: &MediaKey) -> Result<()> {
        self.inner.media_key(path, key)
    }
    fn source_rows(&mut self, context: &[u8]) -> Option<RowHasher> {
        self.inner.source_rows(context)
    }
    fn source_row(&mut self, key: i64, fingerprint: u64) -> Result<bool> {
        self.delivered()?;
        self.inner.source_row(key, fingerprint)
    }
}
