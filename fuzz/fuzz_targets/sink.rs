// A sink that checks invariants and keeps nothing.
use chatvault_core::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKey, Message,
};

pub struct Sink;

impl ChatSink for Sink {
    fn account(&mut self, _: &Account) -> chatvault_core::Result<()> {
        Ok(())
    }
    fn contact(&mut self, _: &Contact) -> chatvault_core::Result<()> {
        Ok(())
    }
    fn conversation(&mut self, _: &Conversation) -> chatvault_core::Result<()> {
        Ok(())
    }
    fn message(&mut self, m: Message) -> chatvault_core::Result<()> {
        assert!(!m.conversation.is_empty());
        if let Some(media) = &m.media {
            let escapes = media.path.starts_with('/')
                || media.path.split(['/', '\\']).any(|c| c == "..");
            assert!(!escapes, "media path escapes: {}", media.path);
        }
        Ok(())
    }
    fn warning(&mut self, _: String) {}
    fn media_key(&mut self, path: &str, _: &MediaKey) -> chatvault_core::Result<()> {
        assert!(!path.starts_with('/') && !path.split(['/', '\\']).any(|c| c == ".."));
        Ok(())
    }
}
