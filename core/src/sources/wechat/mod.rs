//! WeChat: Android (`EnMicroMsg.db`, plain or SQLCipher-encrypted) and iOS (`MM.sqlite`,
//! `message_N.sqlite`) readers, and the message decoding they share.

pub mod android;
pub mod ios;
pub mod message;
pub(crate) mod xml;
