//! Records for chat exports: how to read one, what a snapshot of one holds, search hits.

use chatvault_core as core;
use chatvault_core::chat::{ChatSummary as CoreSummary, IndexedMessage};

use crate::error::{ChatVaultError, Result};

/// How to read a chat export. Everything is optional: the kind is detected, and WeChat's
/// database key is derived from the account found in the export.
#[derive(Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ChatSource {
    /// "wechat-android", "wechat-ios", "whatsapp", "whatsapp-db", "whatsapp-ios", "telegram"
    /// or "folder";
    /// none: detect.
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
    /// WhatsApp text exports: the owner's name as the export writes it (one-to-one chats
    /// find it from the export's file name without this).
    #[uniffi(default = None)]
    pub whatsapp_me: Option<String>,
    /// WhatsApp's own backups (`whatsapp-db`): the 64-digit key of end-to-end encrypted
    /// backups (crypt15; keep it in the keystore), or the path of a `key` file (crypt14,
    /// crypt12). Never logged.
    #[uniffi(default = None)]
    pub whatsapp_key: Option<String>,
    /// A private folder for temporary files (default: `tmp` in the library's state
    /// directory).
    #[uniffi(default = None)]
    pub work_dir: Option<String>,
    /// The site's language as the phone names its locale (`zh-Hans-CN`, `zh_CN`, `en-US`):
    /// Chinese for any Chinese locale, English otherwise or without one. The wrappers pass
    /// the device's locale.
    #[uniffi(default = None)]
    pub locale: Option<String>,
}

impl std::fmt::Debug for ChatSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |k: &Option<String>| k.as_ref().map(|_| "<redacted>");
        f.debug_struct("ChatSource")
            .field("kind", &self.kind)
            .field("wechat_key", &redact(&self.wechat_key))
            .field("imeis", &self.imeis.len())
            .field("uin", &self.uin)
            .field("whatsapp_me", &self.whatsapp_me)
            .field("whatsapp_key", &redact(&self.whatsapp_key))
            .field("work_dir", &self.work_dir)
            .finish()
    }
}

impl TryFrom<&ChatSource> for core::SourceOptions {
    type Error = ChatVaultError;
    fn try_from(s: &ChatSource) -> Result<Self> {
        Ok(core::SourceOptions {
            kind: s.kind.as_deref().map(str::parse).transpose()?,
            wechat_key: s.wechat_key.clone(),
            imeis: s.imeis.clone(),
            uin: s.uin.clone(),
            whatsapp_me: s.whatsapp_me.clone(),
            whatsapp_key: s.whatsapp_key.clone(),
            // iPhone backups, and WeChat's iPhone accounts in them, are read on a computer
            // (feature off in the phone library).
            iphone_backup_password: None,
            wechat_account: None,
            work_dir: s.work_dir.as_ref().map(Into::into),
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
    /// Messages the phone no longer has, kept from earlier backups (counted in
    /// `messages`).
    #[uniffi(default = 0)]
    pub archived: u64,
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
    /// Lines or records the reader could not understand, kept as messages of kind
    /// "unparsed".
    #[uniffi(default = 0)]
    pub unparsed: u64,
    /// Messages the phone no longer has, kept from earlier backups (the archive; counted
    /// in `messages`).
    #[uniffi(default = 0)]
    pub archived: u64,
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
            unparsed: s.unparsed,
            archived: s.archived,
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
                    archived: c.archived,
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
    /// What the reader noticed about the chats (a contacts database missing, lines kept as
    /// unparsed): information to show, not a failure; files left out are
    /// `backup.warnings`.
    pub notices: Vec<String>,
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
    /// When a backup first found the message no longer on the phone (milliseconds since
    /// 1970); none while the phone has it.
    #[uniffi(default = None)]
    pub gone_since_ms: Option<i64>,
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
            gone_since_ms: m.gone_since,
        }
    }
}

/// What `Repository.exportChats` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ExportFormat {
    /// A static site (`index.html`) that opens in any browser without a network.
    Html,
    /// `conversations.json` and one JSON file per conversation (schema in docs/FORMAT.md).
    Json,
    /// One readable text file per conversation.
    Txt,
}

impl From<ExportFormat> for core::ExportFormat {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Html => core::ExportFormat::Html,
            ExportFormat::Json => core::ExportFormat::Json,
            ExportFormat::Txt => core::ExportFormat::Txt,
        }
    }
}

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExportOptions {
    /// The format.
    pub format: ExportFormat,
    /// Conversation ids to export; empty: all.
    #[uniffi(default = [])]
    pub conversations: Vec<String>,
    /// Only messages at or after this instant (milliseconds since 1970).
    #[uniffi(default = None)]
    pub since_ms: Option<i64>,
    /// Only messages before this instant (milliseconds since 1970).
    #[uniffi(default = None)]
    pub until_ms: Option<i64>,
    /// HTML: messages per page.
    #[uniffi(default = 1000)]
    pub page_size: u32,
    /// A private folder for temporary files (default: `tmp` in the library's state
    /// directory).
    #[uniffi(default = None)]
    pub work_dir: Option<String>,
    /// The site's language as the phone names its locale (`zh-Hans-CN`, `zh_CN`, `en-US`):
    /// Chinese for any Chinese locale, English otherwise or without one. The wrappers pass
    /// the device's locale.
    #[uniffi(default = None)]
    pub locale: Option<String>,
    /// Only the messages the phone still had at this backup (by default every message
    /// ever backed up, those kept after the phone deleted them too).
    #[uniffi(default = false)]
    pub on_phone_only: bool,
}

/// An instant as this device's local wall-clock time, which the exporter filters by.
fn local(ms: Option<i64>) -> Option<chrono::NaiveDateTime> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.with_timezone(&chrono::Local).naive_local())
}

impl From<&ExportOptions> for core::ExportOptions {
    fn from(o: &ExportOptions) -> Self {
        core::ExportOptions {
            format: o.format.into(),
            conversations: o.conversations.clone(),
            since: local(o.since_ms),
            until: local(o.until_ms),
            page_size: o.page_size as usize,
            language: o
                .locale
                .as_deref()
                .map(core::Language::from_locale)
                .unwrap_or_default(),
            scope: if o.on_phone_only {
                core::chat::MessageScope::OnPhone
            } else {
                core::chat::MessageScope::Everything
            },
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExportResult {
    /// Conversations written.
    pub conversations: u64,
    /// Messages written.
    pub messages: u64,
    /// Media files copied beside the pages.
    pub media_files: u64,
    /// Messages whose media file was not in the export when it was backed up.
    pub media_missing: u64,
    /// The file to open first (`index.html`, `conversations.json` or `conversations.txt`).
    pub entry: String,
}

impl From<core::ExportSummary> for ExportResult {
    fn from(s: core::ExportSummary) -> Self {
        ExportResult {
            conversations: s.conversations,
            messages: s.messages,
            media_files: s.media_files,
            media_missing: s.media_missing,
            entry: s.entry.to_string_lossy().into_owned(),
        }
    }
}

/// What purging a conversation's archive did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ArchivePurge {
    /// Archived messages removed (the most any one snapshot held; the newest holds them
    /// all).
    pub messages: u64,
    /// Media files removed from the archive, counted the same way.
    pub media_files: u64,
    /// Snapshots rewritten without them: the new ids, oldest first (none for a dry run).
    pub snapshots: Vec<String>,
    /// Snapshots whose backed-up export itself still holds some of the named messages (the
    /// phone had them then, or still has them): purge leaves an export as it is; forgetting
    /// these snapshots removes those messages.
    pub held_by_exports: Vec<String>,
}

impl From<core::chat::PurgeReport> for ArchivePurge {
    fn from(r: core::chat::PurgeReport) -> Self {
        ArchivePurge {
            messages: r.messages(),
            media_files: r.media(),
            snapshots: r
                .snapshots
                .iter()
                .filter_map(|s| s.new.as_ref().map(|n| n.id.to_hex()))
                .collect(),
            held_by_exports: r
                .held_by_exports
                .iter()
                .map(|(s, _)| s.id.to_hex())
                .collect(),
        }
    }
}
