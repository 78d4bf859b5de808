//! Purging the archive on the user's word: messages of one conversation that the phone no
//! longer has (kept by earlier backups, [`super::index`]'s `gone_since`), removed from every
//! snapshot's chat index, with the media files only they used removed from the snapshots'
//! archive folders. Each snapshot holding them is rewritten (its export untouched), so the
//! next `prune` deletes their data from the repository.
//!
//! Messages still in a snapshot's export (the phone had them then, or has them now) are not
//! the archive's: purge counts them and names those snapshots, and changes nothing there.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::index::{TimeWindow, WINDOW};
use super::snapshot_chats::restore_index;
use super::summary::ConversationSummary;
use super::{summary_of, ChatSummary, ARCHIVE_DIR, INDEX_FILE};
use crate::error::{Error, Result};
use crate::progress::CancelToken;
use crate::repo::backup::ExtraTree;
use crate::repo::filter::SnapshotFilter;
use crate::repo::id::Id;
use crate::repo::kept::KeptFiles;
use crate::repo::snapshot::{ExtraMeta, Snapshot};
use crate::repo::tree::NodeKind;
use crate::repo::{lock, Repository};
use crate::sources::model::MessageKind;
use crate::temp::private_temp_dir;

/// What to purge.
#[derive(Debug, Clone)]
pub struct PurgeRequest {
    /// The conversation (its id, as `chats` lists it).
    pub conversation: String,
    /// Only messages sent in this window ([`TimeWindow::ALL`]: every archived message of
    /// the conversation).
    pub window: TimeWindow,
    /// Which snapshots to purge (default: all).
    pub filter: SnapshotFilter,
    /// Only count what would be removed.
    pub dry_run: bool,
    /// How long to wait for running backups to finish.
    pub lock_wait: Duration,
}

/// A snapshot whose archive held messages the purge named.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgedSnapshot {
    /// The snapshot as it was.
    pub old: Snapshot,
    /// The snapshot written in its place (none for a dry run).
    pub new: Option<Snapshot>,
    /// Messages removed from its index.
    pub messages: u64,
    /// Media files removed from its archive folder.
    pub media: u64,
}

/// What a purge did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurgeReport {
    /// Snapshots rewritten, oldest first.
    pub snapshots: Vec<PurgedSnapshot>,
    /// Snapshots whose export itself holds messages the purge names (the phone had them
    /// then, or still has them), as they are now (rewritten if their archive held others),
    /// oldest first, each with how many; forgetting them is the way to remove those.
    pub held_by_exports: Vec<(Snapshot, u64)>,
}

impl PurgeReport {
    /// Messages purged: the most any one snapshot lost (the archive is cumulative, so the
    /// newest holds every archived message of the conversation).
    pub fn messages(&self) -> u64 {
        self.snapshots.iter().map(|s| s.messages).max().unwrap_or(0)
    }

    /// Media files purged, counted as [`PurgeReport::messages`].
    pub fn media(&self) -> u64 {
        self.snapshots.iter().map(|s| s.media).max().unwrap_or(0)
    }
}

/// Removes the archived messages `request` names from every snapshot (of those its filter
/// selects) whose chat index holds them, with their media; see the module's description.
/// Holds the repository's exclusive lock (no backup runs meanwhile). Snapshots that share
/// one index (backups of an unchanged export) are purged together.
pub fn purge_archive(
    repo: &Repository,
    request: &PurgeRequest,
    work_dir: Option<&Path>,
    cancel: &CancelToken,
) -> Result<PurgeReport> {
    if request.conversation.is_empty() {
        return Err(Error::InvalidArgument(
            "purge needs the conversation's id (as `chats` lists it)".into(),
        ));
    }
    let _lock = lock::acquire(repo.storage(), true, "purge", request.lock_wait, cancel)?;
    // The chat snapshots the request selects, each with its summary (a listing leaves
    // them out); an interrupted purge's rewritten snapshots are among them.
    let all = repo
        .snapshots()?
        .into_iter()
        .filter(|s| request.filter.matches(s) && s.extra.is_some() && s.extra_tree.is_some())
        .map(|s| repo.full_snapshot(&s))
        .collect::<Result<Vec<_>>>()?;
    // Snapshots by index, in the order of their first snapshot.
    let mut groups: Vec<(Id, Vec<&Snapshot>)> = Vec::new();
    for s in &all {
        let (Some(_), Some(tree)) = (summary_of(s), s.extra_tree) else {
            continue;
        };
        match groups.iter_mut().find(|(t, _)| *t == tree) {
            Some((_, g)) => g.push(s),
            None => groups.push((tree, vec![s])),
        }
    }
    let named = groups.iter().flat_map(|(_, g)| g).any(|s| {
        summary_of(s).is_some_and(|c| c.conversations.iter().any(|c| c.id == request.conversation))
    });
    if !named {
        return Err(Error::InvalidArgument(format!(
            "no snapshot holds a conversation {:?} (`chats` lists their ids)",
            request.conversation
        )));
    }
    let mut report = PurgeReport::default();
    for (tree, snapshots) in groups {
        cancel.check()?;
        let dir = private_temp_dir(work_dir)?;
        let index_path = dir.path().join(INDEX_FILE);
        restore_index(repo, &tree, dir.path(), cancel)?;
        let purged = purge_index(&index_path, request)?;
        if purged.messages == 0 {
            if purged.held > 0 {
                report
                    .held_by_exports
                    .extend(snapshots.iter().map(|s| ((*s).clone(), purged.held)));
            }
            continue;
        }
        let first = summary_of(snapshots[0]).unwrap_or_default();
        let root = format!("{}/", first.root);
        let mut kept = Vec::new();
        let mut removed = 0u64;
        let archive = format!("{ARCHIVE_DIR}/");
        repo.walk_tree_at(&tree, |e| {
            if let (NodeKind::File, Some(p)) = (e.kind, e.path.strip_prefix(&archive)) {
                match p.strip_prefix(&root) {
                    Some(inside) if purged.media.contains(inside) => removed += 1,
                    _ => kept.push(p.to_string()),
                }
            }
            Ok(())
        })?;
        let new_tree = if request.dry_run {
            None
        } else {
            let extra = ExtraTree::File {
                path: index_path.clone(),
                name: INDEX_FILE.into(),
                kept: KeptFiles {
                    dir: ARCHIVE_DIR.into(),
                    from: vec![(tree, ARCHIVE_DIR.into())],
                    paths: kept,
                },
            };
            Some(repo.store_extra_tree(&extra, cancel)?)
        };
        for old in snapshots {
            let new = match new_tree {
                Some(t) => {
                    let mut summary = summary_of(old).unwrap_or_default();
                    purged.apply(&mut summary, &request.conversation, removed);
                    let meta = ExtraMeta::of(&summary)?;
                    Some(repo.replace_extra(old, meta, t, &all)?)
                }
                None => None,
            };
            if purged.held > 0 {
                let now = new.as_ref().unwrap_or(old);
                report.held_by_exports.push((now.clone(), purged.held));
            }
            report.snapshots.push(PurgedSnapshot {
                old: old.clone(),
                new,
                messages: purged.messages,
                media: removed,
            });
        }
    }
    Ok(report)
}

/// What purging one chat index did.
struct PurgedIndex {
    /// Archived messages removed.
    messages: u64,
    /// Messages in the window still in the export (not removed).
    held: u64,
    /// Media paths (inside the export) the removed messages held and no other message
    /// names.
    media: HashSet<String>,
    /// The conversation's figures afterwards (`None`: no message left).
    conversation: Option<ConversationSummary>,
}

impl PurgedIndex {
    /// Updates a snapshot's summary: the conversation's figures, the totals, and the
    /// archive folder's count less the `removed` files.
    fn apply(&self, summary: &mut ChatSummary, conversation: &str, removed: u64) {
        let at = summary
            .conversations
            .iter()
            .position(|c| c.id == conversation);
        match (at, &self.conversation) {
            (Some(i), Some(figures)) => {
                let c = &mut summary.conversations[i];
                *c = ConversationSummary {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    kind: c.kind.clone(),
                    ..figures.clone()
                };
            }
            (Some(i), None) => {
                summary.conversations.remove(i);
            }
            (None, _) => {}
        }
        summary
            .conversations
            .sort_by(|a, b| b.last.cmp(&a.last).then_with(|| a.id.cmp(&b.id)));
        summary.kept_media = summary.kept_media.saturating_sub(removed);
        summary.add_up();
    }
}

/// Removes the archived messages `request` names from the chat index file at `path`
/// (unless a dry run), zeroing their bytes (SQLite's `secure_delete`), with the keys of
/// media only they used; a conversation left without messages is removed too.
fn purge_index(path: &Path, request: &PurgeRequest) -> Result<PurgedIndex> {
    let sqlite = |e| Error::sqlite("chat index", Some(path), e);
    let mut conn = Connection::open(path).map_err(sqlite)?;
    let w = &request.window;
    let window = params![request.conversation, w.utc.0, w.utc.1, w.wall.0, w.wall.1];
    let cumulative: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('messages') WHERE name = 'gone_since'",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    let archived = if cumulative {
        "m.gone_since IS NOT NULL"
    } else {
        "0"
    };
    let held: u64 = conn
        .query_row(
            &format!("SELECT count(*) FROM messages m WHERE {WINDOW} AND NOT ({archived})"),
            window,
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    let target = format!("{WINDOW} AND {archived}");
    // Media of the purged messages, less what any other message names.
    let mut media = HashSet::new();
    let purged_media = format!(
        "SELECT CASE WHEN m.media_present THEN m.media_path END, m.thumbnail
         FROM messages m WHERE {target}"
    );
    for_each_path(&conn, &purged_media, window, |p| {
        media.insert(p);
    })
    .map_err(sqlite)?;
    if !media.is_empty() {
        let others = format!(
            "SELECT m.media_path, m.thumbnail FROM messages m
             WHERE (m.media_path IS NOT NULL OR m.thumbnail IS NOT NULL) AND NOT ({target})"
        );
        for_each_path(&conn, &others, window, |p| {
            media.remove(&p);
        })
        .map_err(sqlite)?;
    }
    let messages: u64 = conn
        .query_row(
            &format!("SELECT count(*) FROM messages m WHERE {target}"),
            window,
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if messages > 0 && !request.dry_run {
        conn.pragma_update(None, "secure_delete", true)
            .map_err(sqlite)?;
        let tx = conn.transaction().map_err(sqlite)?;
        tx.execute(
            &format!("DELETE FROM messages WHERE rowid IN (SELECT m.rowid FROM messages m WHERE {target})"),
            window,
        )
        .map_err(sqlite)?;
        let has_keys: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'media_keys'",
                [],
                |r| r.get(0),
            )
            .map_err(sqlite)?;
        if has_keys {
            let mut drop_key = tx
                .prepare("DELETE FROM media_keys WHERE path = ?1")
                .map_err(sqlite)?;
            for p in &media {
                drop_key.execute([p]).map_err(sqlite)?;
            }
        }
        tx.execute(
            "DELETE FROM conversations WHERE id = ?1
               AND NOT EXISTS (SELECT 1 FROM messages WHERE conversation = ?1)",
            [&request.conversation],
        )
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
    let conversation = if messages > 0 && !request.dry_run {
        figures(&conn, &request.conversation).map_err(sqlite)?
    } else {
        None
    };
    Ok(PurgedIndex {
        messages,
        held,
        media,
        conversation,
    })
}

/// A conversation's figures as the index now holds them (`None`: no message).
fn figures(conn: &Connection, id: &str) -> rusqlite::Result<Option<ConversationSummary>> {
    let unparsed = MessageKind::Unparsed.as_str();
    let mut c = ConversationSummary {
        id: id.to_string(),
        ..Default::default()
    };
    let sum = |r: &rusqlite::Row, i| r.get::<_, Option<u64>>(i).map(Option::unwrap_or_default);
    conn.query_row(
        "SELECT count(*), min(time_ms), max(time_ms), sum(media_present = 1),
           sum(media_present = 0), sum(kind = ?2), sum(gone_since IS NOT NULL)
         FROM messages WHERE conversation = ?1",
        params![id, unparsed],
        |r| {
            c.messages = r.get(0)?;
            c.first = r.get(1)?;
            c.last = r.get(2)?;
            c.media_present = sum(r, 3)?;
            c.media_missing = sum(r, 4)?;
            c.unparsed = sum(r, 5)?;
            c.archived = sum(r, 6)?;
            Ok(())
        },
    )?;
    if c.messages == 0 {
        return Ok(None);
    }
    c.last_text = conn
        .query_row(
            "SELECT substr(text, 1, 80) FROM messages WHERE conversation = ?1
             ORDER BY time_ms DESC, rowid DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(Some(c))
}

/// Calls `f` with every path the two columns of `sql`'s rows hold.
fn for_each_path(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    mut f: impl FnMut(String),
) -> rusqlite::Result<()> {
    let mut st = conn.prepare(sql)?;
    let mut rows = st.query(params)?;
    while let Some(r) = rows.next()? {
        for i in 0..2 {
            if let Some(p) = r.get::<_, Option<String>>(i)? {
                f(p);
            }
        }
    }
    Ok(())
}
