//! The chat summary recorded in a snapshot, so listings need no download of the index.

use serde::{Deserialize, Serialize};

use crate::sources::model::Account;

/// Per-conversation figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Conversation id.
    pub id: String,
    /// Name to show.
    pub name: String,
    /// Kind ("direct", "group", "channel", "saved").
    pub kind: String,
    /// Messages.
    pub messages: u64,
    /// Oldest message time (ms; UTC unless the summary says `local_time`).
    pub first: Option<i64>,
    /// Newest message time.
    pub last: Option<i64>,
    /// Messages whose media file is in the export.
    #[serde(default)]
    pub media_present: u64,
    /// Messages whose media file is missing (never downloaded, cleaned up, omitted).
    #[serde(default)]
    pub media_missing: u64,
    /// Lines or records the reader could not understand, kept as "unparsed" messages.
    #[serde(default)]
    pub unparsed: u64,
    /// Messages the phone no longer has, kept from earlier backups (the archive; counted
    /// in `messages` too).
    #[serde(default)]
    pub archived: u64,
    /// The newest message's text, shortened.
    #[serde(default)]
    pub last_text: Option<String>,
}

/// What a snapshot of a chat export holds, stored in the snapshot itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatSummary {
    /// Source kind ("wechat-android", "whatsapp", ...).
    pub app: String,
    /// The export's owner.
    #[serde(default)]
    pub account: Account,
    /// Name of the export's top-level node in the snapshot (media paths are below it).
    #[serde(default)]
    pub root: String,
    /// Messages in total.
    pub messages: u64,
    /// Contacts.
    #[serde(default)]
    pub contacts: u64,
    /// Messages with their media present.
    #[serde(default)]
    pub media_present: u64,
    /// Messages with their media missing.
    #[serde(default)]
    pub media_missing: u64,
    /// Messages the reader could not understand (kept as "unparsed").
    #[serde(default)]
    pub unparsed: u64,
    /// Messages the phone no longer has, kept from earlier backups (counted in `messages`).
    #[serde(default)]
    pub archived: u64,
    /// Media files the export no longer has, kept from earlier backups in the snapshot's
    /// archive folder ([`super::ARCHIVE_DIR`]).
    #[serde(default)]
    pub kept_media: u64,
    /// Oldest message time (ms).
    pub first: Option<i64>,
    /// Newest message time (ms).
    pub last: Option<i64>,
    /// Times are wall-clock of an unknown zone (WhatsApp), not UTC.
    #[serde(default)]
    pub local_time: bool,
    /// How an encrypted database was opened (never the key).
    #[serde(default)]
    pub opened_with: Option<String>,
    /// Warnings while reading (missing media are counted above, not here).
    #[serde(default)]
    pub warnings: u64,
    /// Conversations, most recently active first.
    pub conversations: Vec<ConversationSummary>,
    /// Fingerprint of the export's files (names, sizes, modification times) and of the
    /// program that read it: a later backup of the same, unchanged export reuses this
    /// snapshot's index instead of reading every message again.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

impl ChatSummary {
    /// Sets the totals (messages, media, unparsed, archived, first and last) from the
    /// conversations' figures.
    pub(crate) fn add_up(&mut self) {
        let c = &self.conversations;
        self.messages = c.iter().map(|c| c.messages).sum();
        self.media_present = c.iter().map(|c| c.media_present).sum();
        self.media_missing = c.iter().map(|c| c.media_missing).sum();
        self.unparsed = c.iter().map(|c| c.unparsed).sum();
        self.archived = c.iter().map(|c| c.archived).sum();
        self.first = c.iter().filter_map(|c| c.first).min();
        self.last = c.iter().filter_map(|c| c.last).max();
    }
}
