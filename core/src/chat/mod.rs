//! Chats as a layer over the repository. A backup of a chat app's data (a *source*, read by
//! [`crate::sources`]) stores the source byte for byte, plus its normalized chat index
//! ([`index`]) as the snapshot's extra tree and a summary ([`summary`]) as its extra
//! metadata ([`crate::repo::snapshot::Snapshot::extra`]); the repository knows nothing of
//! chats.
//!
//! [`backup_source`] writes such a snapshot; [`open_chats`] opens a snapshot's chats for
//! listing and search; [`restore_conversation`] restores one conversation.

pub mod backup;
pub(crate) mod encrypted_media;
pub mod index;
mod index_cache;
mod known;
pub mod purge;
pub mod restore;
mod snapshot_chats;
mod source_rows;
pub mod summary;
mod waiting;
mod writer_thread;

pub use backup::{backup_source, CarriedBytes, SourceBackup};
pub use index::{
    ChatIndex, ChatIndexWriter, FinishedIndex, IndexedMessage, MessageScope, ResumeCounts,
};
pub use purge::{purge_archive, PurgeReport, PurgeRequest, PurgedSnapshot};
pub use restore::{restore_conversation, safe_file_name, SnapshotMedia};
pub use snapshot_chats::{open_chats, open_chats_scoped, SnapshotChats};
pub use summary::{ChatSummary, ConversationSummary};

use crate::repo::snapshot::Snapshot;

/// File name of the chat index inside its snapshot tree.
pub const INDEX_FILE: &str = "chats.sqlite";

/// Folder of a snapshot's extra tree holding media files the export no longer has, kept
/// from earlier snapshots, at their paths in the snapshot (`<export name>/<path>`).
pub const ARCHIVE_DIR: &str = "archive";

/// The chat summary a snapshot carries, if it is of a chat app's data.
pub fn summary_of(snapshot: &Snapshot) -> Option<ChatSummary> {
    snapshot.extra()
}
