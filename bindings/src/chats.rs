//! Records for chat exports: how to read one, what a snapshot of one holds, search hits.

use chatvault_core as core;
use chatvault_core::chat::{ChatSummary as CoreSummary, IndexedMessage};

use crate::error::{ChatVaultError, Result};

/// How to read a chat export. Everything is optional: the kind is detected, and WeChat's
/// database key is derived from the account found in the export.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ChatSource {
    /// "wechat-android", "wechat-ios", "whatsapp", "telegram" or "folder"; none: detect.
    #[uniffi(default = None)]
    pub kind: Option<String>,
    /// WeChat Android: the database key (7 hex characters), if the user has it.
    #[uniffi(default = None)]
    pub wechat_key: Option<String>,
    /// WeChat Android: device ids (IMEI) to derive the key from.
    #[uniffi(default = [])]
    pub imeis: Vec<String>,
    /// WeChat Android: the account's uin, if the export has no shared_prefs.
    #[uniffi(default = None)]
    pub uin: Option<String>,
    /// A private folder for temporary files (default: `tmp` in the library's state
    /// directory).
    #[uniffi(default = None)]
    pub work_dir: Option<String>,
}

impl TryFrom<&ChatSource> for core::SourceOptions {
    type Error = ChatVaultError;
    fn try_from(s: &ChatSource) -> Result<Self> {
        Ok(core::SourceOptions {
            kind: s.kind.as_deref().map(str::parse).transpose()?,
            wechat_key: s.wechat_key.clone(),
            imeis: s.imeis.clone(),
            uin: s.uin.clone(),
        })
    }
}

/// One conversation as a snapshot lists it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConversationInfo {
    /// The app's id for it.
    pub id: String,
    /// Name to show.
    pub name: String,
    /// "direct", "group", "channel" or "saved".
    pub kind: String,
    /// Messages.
    pub messages: u64,
    /// Oldest and newest message, milliseconds.
    pub first_ms: Option<i64>,
    /// Newest message, milliseconds.
    pub last_ms: Option<i64>,
    /// Messages whose photo, video or voice file was not in the export.
    pub media_missing: u64,
    /// The newest message's text, shortened.
    pub last_text: Option<String>,
}

/// What a snapshot of a chat export holds; read from the snapshot alone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatSummary {
    /// Source kind.
    pub app: String,
    /// The account's display name (or id).
    pub account: String,
    /// Messages in total.
    pub messages: u64,
    /// Messages whose media file was missing from the export.
    pub media_missing: u64,
    /// Times are wall-clock of an unknown zone (WhatsApp), not UTC.
    pub local_time: bool,
    /// How an encrypted database was opened (never the key).
    pub opened_with: Option<String>,
    /// Conversations, most recently active first.
    pub conversations: Vec<ConversationInfo>,
}

impl From<CoreSummary> for ChatSummary {
    fn from(s: CoreSummary) -> Self {
        ChatSummary {
            app: s.app,
            account: if s.account.name.is_empty() {
                s.account.id
            } else {
                s.account.name
            },
            messages: s.messages,
            media_missing: s.media_missing,
            local_time: s.local_time,
            opened_with: s.opened_with,
            conversations: s
                .conversations
                .into_iter()
                .map(|c| ConversationInfo {
                    id: c.id,
                    name: c.name,
                    kind: c.kind,
                    messages: c.messages,
                    first_ms: c.first,
                    last_ms: c.last,
                    media_missing: c.media_missing,
                    last_text: c.last_text,
                })
                .collect(),
        }
    }
}

/// The result of backing up a chat export.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChatBackupResult {
    /// The snapshot and warnings.
    pub backup: crate::records::BackupResult,
    /// What was read (none for a plain folder).
    pub chats: Option<ChatSummary>,
}

/// A message found by a search.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatMessage {
    /// Conversation id.
    pub conversation: String,
    /// Message id.
    pub id: String,
    /// Sender's display name (or id); none for system lines.
    pub sender: Option<String>,
    /// Sent by the account owner.
    pub from_me: bool,
    /// Milliseconds (UTC, or wall clock when the summary says `local_time`).
    pub time_ms: i64,
    /// "text", "image", "voice", ...
    pub kind: String,
    /// Text.
    pub text: String,
}

impl From<IndexedMessage> for ChatMessage {
    fn from(m: IndexedMessage) -> Self {
        ChatMessage {
            conversation: m.conversation,
            id: m.id,
            sender: m.sender_name.or(m.sender),
            from_me: m.from_me,
            time_ms: m.time_ms,
            kind: m.kind,
            text: m.text,
        }
    }
}
