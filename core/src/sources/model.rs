//! The normalized chat model every reader produces, whatever the app.

use serde::{Deserialize, Serialize};

/// The account that owns the export (the phone's user).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The app's id for the user (WeChat username, phone number, Telegram user id).
    pub id: String,
    /// Display name.
    pub name: String,
}

/// What kind of contact or conversation partner this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// A person.
    #[default]
    Person,
    /// An official account, bot or service.
    Official,
    /// A group.
    Group,
}

/// A contact as the app stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The app's id.
    pub id: String,
    /// The name to show: the user's remark for the contact if any, else the nickname.
    pub name: String,
    /// The contact's own nickname.
    #[serde(default)]
    pub nickname: String,
    /// The user's remark (alias given by the user), if any.
    #[serde(default)]
    pub remark: String,
    /// Public handle (WeChat ID, @username), if any.
    #[serde(default)]
    pub alias: String,
    /// Kind.
    pub kind: ContactKind,
}

/// Kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// One to one.
    #[default]
    Direct,
    /// A group with members.
    Group,
    /// An official account, channel, or bot.
    Channel,
    /// Notes to self (WeChat file helper, Telegram saved messages).
    Saved,
}

impl ConversationKind {
    /// Stable lower-case name, as stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::Group => "group",
            ConversationKind::Channel => "channel",
            ConversationKind::Saved => "saved",
        }
    }
}

/// A conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The app's id (WeChat talker, Telegram chat id, WhatsApp file name).
    pub id: String,
    /// Name to show.
    pub name: String,
    /// Kind.
    pub kind: ConversationKind,
    /// Member ids of a group (as far as the export says).
    #[serde(default)]
    pub members: Vec<String>,
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Plain text.
    #[default]
    Text,
    /// A photo.
    Image,
    /// A voice message.
    Voice,
    /// A video.
    Video,
    /// A file or document.
    File,
    /// A sticker or animated emoji.
    Sticker,
    /// A location.
    Location,
    /// A link or article.
    Link,
    /// A shared contact card.
    ContactCard,
    /// A reply quoting another message.
    Quote,
    /// A system line (joined, renamed, ...).
    System,
    /// A message withdrawn or deleted by its sender.
    Revoke,
    /// A voice or video call.
    Call,
    /// A money transfer or red envelope.
    Transfer,
    /// A poll.
    Poll,
    /// Anything else; the raw content is kept.
    Other,
    /// A line or record the reader could not understand, kept as it was (in `raw` and as
    /// the text) so it stays visible and a later version can reread it.
    Unparsed,
}

impl MessageKind {
    /// Stable lower-case name, as stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::Voice => "voice",
            MessageKind::Video => "video",
            MessageKind::File => "file",
            MessageKind::Sticker => "sticker",
            MessageKind::Location => "location",
            MessageKind::Link => "link",
            MessageKind::ContactCard => "contact_card",
            MessageKind::Quote => "quote",
            MessageKind::System => "system",
            MessageKind::Revoke => "revoke",
            MessageKind::Call => "call",
            MessageKind::Transfer => "transfer",
            MessageKind::Poll => "poll",
            MessageKind::Other => "other",
            MessageKind::Unparsed => "unparsed",
        }
    }
}

/// When a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "zone", content = "ms")]
pub enum Timestamp {
    /// Milliseconds since the Unix epoch, UTC (WeChat, Telegram).
    Utc(i64),
    /// Wall-clock time of an unknown zone, as milliseconds since 1970-01-01T00:00 of that
    /// clock (WhatsApp exports).
    Local(i64),
}

impl Timestamp {
    /// Milliseconds, either since the epoch or of the wall clock.
    pub fn millis(self) -> i64 {
        match self {
            Timestamp::Utc(ms) | Timestamp::Local(ms) => ms,
        }
    }

    /// Whether the zone is known (the value is UTC).
    pub fn is_utc(self) -> bool {
        matches!(self, Timestamp::Utc(_))
    }
}

/// What kind of media file a message refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// Photo.
    Image,
    /// Voice or audio.
    Audio,
    /// Video.
    Video,
    /// Sticker.
    Sticker,
    /// Any other file.
    File,
}

impl MediaKind {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Sticker => "sticker",
            MediaKind::File => "file",
        }
    }
}

/// A media file a message refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Path inside the export, `/`-separated, relative to the export root (for a zip: the
    /// entry's name).
    pub path: String,
    /// Kind.
    pub kind: MediaKind,
    /// Whether the file exists in the export.
    pub present: bool,
    /// A thumbnail's path, if the app keeps one and it exists.
    #[serde(default)]
    pub thumbnail: Option<String>,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The app's id for the message, unique within the conversation.
    pub id: String,
    /// The server's id for it, where the app has one (WeChat's msgSvrId): what replies
    /// in that app refer to.
    #[serde(default)]
    pub server_id: Option<String>,
    /// Conversation id.
    pub conversation: String,
    /// Sender id (or display name where the export has no ids); `None` for system lines.
    pub sender: Option<String>,
    /// Sender's display name as the export shows it, if known.
    #[serde(default)]
    pub sender_name: Option<String>,
    /// Sent by the account owner.
    pub from_me: bool,
    /// When.
    pub time: Timestamp,
    /// Kind.
    pub kind: MessageKind,
    /// Text to show and to search: the message, a caption, a link title, a file name.
    pub text: String,
    /// The message this one replies to, if any: its `server_id` where the app has server
    /// ids (WeChat), else its `id`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The quoted text, when the export carries it.
    #[serde(default)]
    pub quote: Option<String>,
    /// Media file, if any.
    #[serde(default)]
    pub media: Option<MediaRef>,
    /// The message as the source holds it (the export's lines, the JSON object, the HTML
    /// fragment, WeChat's XML content), so a later version can read it again.
    #[serde(default)]
    pub raw: Option<String>,
    /// Whether the sender edited it.
    #[serde(default)]
    pub edited: bool,
    /// What else the message carries, where the app has it.
    #[serde(default)]
    pub details: MessageDetails,
}

/// What a message carries beyond the common fields; each is empty where the app or the
/// export has no such thing. Stored in the chat index as JSON (`details`), empty fields left
/// out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDetails {
    /// Forwarded from (a name as the export shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<String>,
    /// Saved from (Telegram: the chat a saved message came from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_from: Option<String>,
    /// Sent through this bot (Telegram inline bots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_bot: Option<String>,
    /// The author's signature on a channel post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_signature: Option<String>,
    /// Link targets in the text (hidden links' URLs, mentions' targets), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Reactions to the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// A poll's question and answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
    /// A place: a venue's title and address, or coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// Audio: the performer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<String>,
    /// Audio or a shared item: its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Length of audio, video or a call, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    /// A file's size in bytes, as the app recorded it (the file itself may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The chat the replied-to message is in, when it is another chat than this one (its
    /// `reply_to` then names a message of that chat, not of this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_chat: Option<String>,
    /// WhatsApp: a "view once" photo, video or voice message (its content is not exported).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub view_once: bool,
}

impl MessageDetails {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == MessageDetails::default()
    }
}

/// One reaction to a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji (or a custom emoji's file or id).
    pub emoji: String,
    /// How many reacted with it.
    pub count: u64,
    /// Who reacted, where the export names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<String>,
}

/// A poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// The question.
    pub question: String,
    /// The answers, in order.
    pub answers: Vec<PollAnswer>,
    /// Whether the poll was closed.
    #[serde(default)]
    pub closed: bool,
}

/// One answer of a poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollAnswer {
    /// The answer's text.
    pub text: String,
    /// Votes, where the export has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<u64>,
}

/// A place shared in a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// A venue's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A venue's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

/// How to read a media file the export stores encrypted (a file of an encrypted iPhone
/// backup, kept as it is in the snapshot): AES-256-CBC with a zero IV and PKCS#7 padding
/// under `key`, the plaintext `size` bytes long. Kept in the chat index (itself encrypted in
/// the repository), so a restored chat's media open without the backup's password.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKey {
    /// The file's AES-256 key.
    pub key: [u8; 32],
    /// The plaintext's length.
    pub size: u64,
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaKey")
            .field("key", &"<redacted>")
            .field("size", &self.size)
            .finish()
    }
}

impl Drop for MediaKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// Where readers put what they read. The chat index implements it.
pub trait ChatSink {
    /// The export's owner.
    fn account(&mut self, account: &Account) -> crate::Result<()>;
    /// A contact.
    fn contact(&mut self, contact: &Contact) -> crate::Result<()>;
    /// A conversation (may come after some of its messages).
    fn conversation(&mut self, conversation: &Conversation) -> crate::Result<()>;
    /// A message.
    fn message(&mut self, message: Message) -> crate::Result<()>;
    /// Something worth telling the user that does not stop the read.
    fn warning(&mut self, warning: String);
    /// The key of a media file (a message's media or thumbnail path) that the export stores
    /// encrypted, so a restore can decrypt it. Required, so that no sink passing records on
    /// drops it.
    fn media_key(&mut self, path: &str, key: &MediaKey) -> crate::Result<()>;
    /// How to fingerprint the source's rows, if this sink remembers them between backups
    /// (so that the next backup skips the rows that did not change). A reader that can
    /// name its rows asks once, before its first message, giving `context`: everything
    /// besides a row that its messages are made of (the account, contact names, lookup
    /// tables that are not per row, its own version). A row whose context changed is never
    /// skipped.
    fn source_rows(&mut self, context: &[u8]) -> Option<RowHasher> {
        let _ = context;
        None
    }
    /// A row of the source, by `key` (increasing in the order the reader reads its rows)
    /// and `fingerprint` (of everything its message is made of besides the context, by the
    /// [`RowHasher`] [`ChatSink::source_rows`] gave). `true`: the sink already holds its
    /// message, unchanged since the last backup, and the reader skips the row. `false`:
    /// the reader delivers the row's message next, before any other.
    fn source_row(&mut self, key: i64, fingerprint: u64) -> crate::Result<bool> {
        let _ = (key, fingerprint);
        Ok(false)
    }
}

/// Fingerprints a source's rows ([`ChatSink::source_rows`]): SipHash-1-3 under a key
/// the device keeps with what it remembers, so that a sender cannot craft a message
/// whose fingerprint equals another's.
#[derive(Debug, Clone, Copy)]
pub struct RowHasher {
    k0: u64,
    k1: u64,
}

impl RowHasher {
    /// A hasher under the 16-byte `key`.
    pub fn new(key: [u8; 16]) -> Self {
        let (a, b) = key.split_at(8);
        RowHasher {
            k0: u64::from_le_bytes(a.try_into().unwrap_or_default()),
            k1: u64::from_le_bytes(b.try_into().unwrap_or_default()),
        }
    }

    /// A fingerprint to feed one row's values to.
    pub fn row(&self) -> RowFingerprint {
        RowFingerprint {
            sip: siphasher::sip::SipHasher13::new_with_keys(self.k0, self.k1),
            buf: [0; FINGERPRINT_BUFFER],
            len: 0,
        }
    }
}

/// Bytes a [`RowFingerprint`] gathers before SipHash takes them: a row's values are mostly
/// a few bytes each, and SipHash costs as much per call as per 8 bytes it hashes. The
/// fingerprint is that of the whole stream however it is cut.
const FINGERPRINT_BUFFER: usize = 256;

/// One row's fingerprint as its values are fed in ([`RowHasher::row`]); each value is
/// typed and length-prefixed, so different values never run together.
pub struct RowFingerprint {
    sip: siphasher::sip::SipHasher13,
    buf: [u8; FINGERPRINT_BUFFER],
    len: usize,
}

impl RowFingerprint {
    fn feed(&mut self, b: &[u8]) {
        if self.len + b.len() > FINGERPRINT_BUFFER {
            std::hash::Hasher::write(&mut self.sip, &self.buf[..self.len]);
            self.len = 0;
            if b.len() > FINGERPRINT_BUFFER {
                std::hash::Hasher::write(&mut self.sip, b);
                return;
            }
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// Adds a number.
    pub fn int(&mut self, v: i64) -> &mut Self {
        let mut b = [1u8; 9];
        b[1..].copy_from_slice(&v.to_le_bytes());
        self.feed(&b);
        self
    }

    /// Adds bytes (or text).
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let mut head = [2u8; 9];
        head[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
        self.feed(&head);
        self.feed(b);
        self
    }

    /// Adds a value that may be missing.
    pub fn opt_bytes(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            Some(b) => self.bytes(b),
            None => {
                self.feed(&[0]);
                self
            }
        }
    }

    /// The fingerprint.
    pub fn finish(&self) -> u64 {
        let mut sip = self.sip;
        std::hash::Hasher::write(&mut sip, &self.buf[..self.len]);
        std::hash::Hasher::finish(&sip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    /// Gathering values before hashing them changes no fingerprint: the rows a device
    /// remembers stay valid (and values of any length, across the buffer's end, count).
    #[test]
    fn a_fingerprint_is_that_of_its_values_one_after_another() {
        let key = *b"0123456789abcdef";
        let hasher = RowHasher::new(key);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let mut fp = hasher.row();
            let mut reference = siphasher::sip::SipHasher13::new_with_keys(
                u64::from_le_bytes(key[..8].try_into().unwrap()),
                u64::from_le_bytes(key[8..].try_into().unwrap()),
            );
            for _ in 0..next() % 40 {
                match next() % 3 {
                    0 => {
                        let v = next() as i64;
                        fp.int(v);
                        reference.write(&[1]);
                        reference.write(&v.to_le_bytes());
                    }
                    1 => {
                        let len = [0, 1, 7, 200, 255, 256, 257, 1000][(next() % 8) as usize];
                        let b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                        fp.bytes(&b);
                        reference.write(&[2]);
                        reference.write(&(b.len() as u64).to_le_bytes());
                        reference.write(&b);
                    }
                    _ => {
                        fp.opt_bytes(None);
                        reference.write(&[0]);
                    }
                }
            }
            assert_eq!(fp.finish(), reference.finish());
        }
    }
}
