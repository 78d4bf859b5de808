//! WeChat: Android (`EnMicroMsg.db`, plain or SQLCipher-encrypted) and iOS (`MM.sqlite`,
//! `message_N.sqlite`) readers, and what they share: message decoding and assembly
//! ([`message`]) and the kinds of contacts and conversations told by their usernames (here).
//! Only reading the rows (SQL, columns) differs per platform.

pub mod android;
pub(crate) mod android_media;
pub mod ios;
pub mod message;
pub(crate) mod sqlite;
pub(crate) mod xml;

use crate::sources::model::{ContactKind, ConversationKind};

/// The kind of the contact with username `id`; `official`: the database marks it as an
/// official account (Android's `verifyFlag`).
pub(crate) fn contact_kind(id: &str, official: bool) -> ContactKind {
    if id.ends_with("@chatroom") {
        ContactKind::Group
    } else if official || id.starts_with("gh_") {
        ContactKind::Official
    } else {
        ContactKind::Person
    }
}

/// The kind of the conversation with username `id`; `me`: the account's own username, whose
/// conversation with itself is saved messages like the file helper's (when known).
pub(crate) fn conversation_kind(id: &str, me: Option<&str>) -> ConversationKind {
    if id.ends_with("@chatroom") {
        ConversationKind::Group
    } else if id.starts_with("gh_") {
        ConversationKind::Channel
    } else if id == "filehelper" || Some(id) == me {
        ConversationKind::Saved
    } else {
        ConversationKind::Direct
    }
}
