//! Chat exports in the repository: a backup of an export stores the raw export byte for
//! byte plus its normalized chat index ([`index`]) and a summary ([`summary`]) in the
//! snapshot; this module ties the sources layer to the repository.

pub mod index;
pub mod summary;
mod writer_thread;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

pub use index::{ChatIndex, ChatIndexWriter, IndexedMessage};
pub use summary::{ChatSummary, ConversationSummary};
use writer_thread::WriterThread;

use crate::error::{Error, Result};
use crate::progress::{CancelToken, ProgressListener};
use crate::repo::backup::{BackupOptions, BackupResult, ChatRecord};
use crate::repo::restore::{RestoreOptions, RestoreSummary};
use crate::repo::snapshot::{Snapshot, SourceInfo};
use crate::repo::Repository;
use crate::sources::model::{Account, ChatSink, Contact, Conversation, Message};
use crate::sources::{self, SourceKind, SourceOptions};
use crate::temp::private_temp_dir;

/// File name of the chat index inside its snapshot tree.
pub const INDEX_FILE: &str = "chats.sqlite";

/// The result of backing up a chat export.
#[derive(Debug, Clone)]
pub struct ExportBackup {
    /// The snapshot and warnings.
    pub backup: BackupResult,
    /// What the export was.
    pub kind: SourceKind,
    /// The chat summary recorded in the snapshot (none for plain folders).
    pub summary: Option<ChatSummary>,
    /// The export was unchanged since the last backup, so its chat index was reused
    /// instead of reading every message again.
    pub index_reused: bool,
}

/// A snapshot's chat index, restored into a private temporary folder (removed on drop).
pub struct SnapshotChats {
    index: ChatIndex,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for SnapshotChats {
    type Target = ChatIndex;
    fn deref(&self) -> &ChatIndex {
        &self.index
    }
}

/// The chat summary a snapshot carries, if it is of a chat export.
pub fn summary_of(snapshot: &Snapshot) -> Option<ChatSummary> {
    snapshot
        .chat
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

impl Repository {
    /// Backs up a chat export (or any folder): detects or takes its kind, reads it into a
    /// chat index, and writes one snapshot holding the export as it is plus the index.
    ///
    /// The index is built in a private temporary folder under `work_dir` (the app's cache
    /// directory on phones; default: the system's temporary folder) and removed afterwards.
    /// Reading fails before anything is written if the export cannot be read (wrong key,
    /// damaged database, not an export of the given kind).
    pub fn backup_export(
        &self,
        path: &Path,
        source: &SourceOptions,
        options: &BackupOptions,
        work_dir: Option<&Path>,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<ExportBackup> {
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
            let backup = self.backup(&[path.to_path_buf()], &options, listener, cancel)?;
            return Ok(ExportBackup {
                backup,
                kind,
                summary: None,
                index_reused: false,
            });
        }
        let fingerprint = export_fingerprint(path, kind)?;
        if let Some((tree, mut summary)) = self.unchanged_parent(path, &options, &fingerprint)? {
            log::info!("export unchanged since the last backup: its chat index is reused");
            summary.fingerprint = Some(fingerprint);
            options.source = SourceInfo {
                kind: kind.as_str().into(),
                description: snapshot_description(&summary),
            };
            options.chat =
                Some(serde_json::to_value(&summary).map_err(|e| Error::Internal(e.to_string()))?);
            options.reuse_chat_index = Some(tree);
            let backup = self.backup(&[path.to_path_buf()], &options, listener, cancel)?;
            return Ok(ExportBackup {
                backup,
                kind,
                summary: Some(summary),
                index_reused: true,
            });
        }
        let dir = private_temp_dir(work_dir)?;
        let index_path = dir.path().join(INDEX_FILE);
        options.page_sizes.extend(export.encrypted_databases());
        self.backup_reading(
            path,
            export,
            kind,
            &options,
            &fingerprint,
            &index_path,
            listener,
            cancel,
        )
    }

    /// Backs up the export at `path` while its reader fills a new chat index at
    /// `index_path` on another thread; the snapshot is written once both are done. Either
    /// side failing stops the other.
    #[allow(clippy::too_many_arguments)]
    fn backup_reading(
        &self,
        path: &Path,
        export: Box<dyn sources::Source>,
        kind: SourceKind,
        options: &BackupOptions,
        fingerprint: &str,
        index_path: &Path,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<ExportBackup> {
        let abort = cancel.child();
        std::thread::scope(|scope| {
            let (opened_tx, opened_rx) = mpsc::channel::<()>();
            let (built_tx, built_rx) = mpsc::sync_channel::<Result<BuiltIndex>>(1);
            let reader_abort = abort.clone();
            std::thread::Builder::new()
                .name("chatvault-read".into())
                .spawn_scoped(scope, move || {
                    let built =
                        read_export(path, export, kind, index_path, opened_tx, &reader_abort);
                    if built.is_err() {
                        reader_abort.cancel();
                    }
                    let _ = built_tx.send(built);
                })
                .map_err(|e| Error::Internal(format!("cannot start the export reader: {e}")))?;
            let reader_gone =
                |_| Error::Internal("the export reader stopped without a result".into());
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
                let record = ChatRecord {
                    index: index_path.to_path_buf(),
                    chat: serde_json::to_value(&b.summary)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    source: SourceInfo {
                        kind: kind.as_str().into(),
                        description: snapshot_description(&b.summary),
                    },
                };
                built = Some(b);
                Ok(record)
            });
            let result = self.backup_with(
                &[path.to_path_buf()],
                options,
                Some(pending),
                listener,
                &abort,
            );
            let mut backup = match result {
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
                return Err(Error::Internal(
                    "backup finished without its chat index".into(),
                ));
            };
            let mut all = built.warnings;
            all.append(&mut backup.warnings);
            backup.warnings = all;
            Ok(ExportBackup {
                backup,
                kind,
                summary: Some(built.summary),
                index_reused: false,
            })
        })
    }

    /// Restores a snapshot's chat index into a private temporary folder and opens it.
    pub fn open_chats(
        &self,
        snapshot: &Snapshot,
        work_dir: Option<&Path>,
    ) -> Result<SnapshotChats> {
        let Some(tree) = snapshot.chat_index else {
            return Err(Error::InvalidArgument(format!(
                "snapshot {} holds no chat index (it is a {} backup)",
                snapshot.id.short(),
                snapshot.source.kind
            )));
        };
        let dir = private_temp_dir(work_dir)?;
        self.restore_tree(
            &tree,
            dir.path(),
            &RestoreOptions::default(),
            None,
            &CancelToken::new(),
        )?;
        let index = ChatIndex::open(&dir.path().join(INDEX_FILE))?;
        Ok(SnapshotChats { index, _dir: dir })
    }

    /// Restores one conversation: its media files (at their paths inside the export, under
    /// `target/<export name>/`) and its messages as `target/<conversation>.json`.
    pub fn restore_conversation(
        &self,
        snapshot: &Snapshot,
        conversation: &str,
        target: &Path,
        work_dir: Option<&Path>,
        listener: Option<&dyn ProgressListener>,
        cancel: &CancelToken,
    ) -> Result<RestoreSummary> {
        let summary = summary_of(snapshot).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "snapshot {} is not of a chat export",
                snapshot.id.short()
            ))
        })?;
        let chats = self.open_chats(snapshot, work_dir)?;
        if !chats.has_conversation(conversation)? {
            return Err(Error::InvalidArgument(format!(
                "no conversation {conversation:?} in snapshot {} (see `chats`)",
                snapshot.id.short()
            )));
        }
        let root = &summary.root;
        let root_is_file = self.root_is_file(snapshot, root)?;
        let include: Vec<String> = if root_is_file {
            vec![root.clone()]
        } else {
            chats
                .media_paths(conversation)?
                .into_iter()
                .map(|p| format!("{root}/{p}"))
                .collect()
        };
        let mut result = if include.is_empty() {
            fs::create_dir_all(target).map_err(|e| Error::io("create", target, e))?;
            RestoreSummary::default()
        } else {
            self.restore(
                snapshot,
                target,
                &RestoreOptions { include },
                listener,
                cancel,
            )?
        };
        let json = target.join(format!("{}.json", safe_file_name(conversation)));
        write_messages_json(&chats, conversation, &json)?;
        result.files += 1;
        Ok(result)
    }
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
fn export_fingerprint(path: &Path, kind: SourceKind) -> Result<String> {
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

impl Repository {
    /// The parent snapshot's chat index and summary, if the export is unchanged since it.
    fn unchanged_parent(
        &self,
        path: &Path,
        options: &BackupOptions,
        fingerprint: &str,
    ) -> Result<Option<(crate::repo::id::Id, ChatSummary)>> {
        if options.force_read {
            return Ok(None);
        }
        let host = options.host.clone().unwrap_or_else(crate::repo::hostname);
        let abs = fs::canonicalize(path).map_err(|e| Error::io("open", path, e))?;
        let paths = vec![abs.to_string_lossy().into_owned()];
        let parent = self
            .snapshots()?
            .into_iter()
            .rev()
            .find(|s| s.host == host && s.paths == paths);
        Ok(parent.and_then(|p| {
            let summary = summary_of(&p)?;
            let tree = p.chat_index?;
            (summary.fingerprint.as_deref() == Some(fingerprint)).then_some((tree, summary))
        }))
    }
}

/// A chat index read from an export, and what the reader warned about.
struct BuiltIndex {
    summary: ChatSummary,
    warnings: Vec<String>,
}

/// Reads the export at `path` into a new chat index at `index_file`. Sends on `opened` once
/// the reader has understood the export; stops when `cancel` is cancelled.
fn read_export(
    path: &Path,
    export: Box<dyn sources::Source>,
    kind: SourceKind,
    index_file: &Path,
    opened: mpsc::Sender<()>,
    cancel: &CancelToken,
) -> Result<BuiltIndex> {
    let started = std::time::Instant::now();
    let writer = ChatIndexWriter::create(index_file)?;
    let (writer, outcome) = std::thread::scope(|scope| {
        let mut sink = Announcing {
            inner: WriterThread::spawn(scope, writer)?,
            opened: Some(opened),
            cancel,
        };
        let outcome = export.read(&mut sink)?;
        cancel.check()?;
        Ok::<_, Error>((sink.inner.finish()?, outcome))
    })?;
    let warnings = writer.warnings().to_vec();
    let mut summary = writer.finish(kind.as_str())?;
    summary.root = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    summary.opened_with = outcome.opened_with;
    log::info!(
        "chat index: {} messages in {} conversations, {} bytes, built in {:.1}s",
        summary.messages,
        summary.conversations.len(),
        fs::metadata(index_file).map(|m| m.len()).unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    Ok(BuiltIndex { summary, warnings })
}

/// Hands what a reader reads to the index writer; announces the first thing read, and
/// stops the reader once the backup it runs beside is cancelled or has failed.
struct Announcing<'a, S: ChatSink> {
    inner: S,
    opened: Option<mpsc::Sender<()>>,
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
}

/// A conversation id made safe as a file name.
pub fn safe_file_name(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "conversation".into()
    } else {
        s
    }
}

/// Writes a conversation's messages as a JSON array, streamed.
fn write_messages_json(chats: &ChatIndex, conversation: &str, path: &PathBuf) -> Result<()> {
    let file = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e| Error::io("write", path, e);
    w.write_all(b"[\n").map_err(io)?;
    let mut first = true;
    chats.for_each_message(conversation, |m| {
        if !first {
            w.write_all(b",\n").map_err(io)?;
        }
        first = false;
        serde_json::to_writer(&mut w, &m).map_err(|e| Error::Internal(e.to_string()))
    })?;
    w.write_all(b"\n]\n").map_err(io)?;
    w.flush().map_err(io)?;
    Ok(())
}
