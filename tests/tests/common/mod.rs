//! What the reader tests share: a sink that keeps everything a reader reports.
// Each test crate uses a part of it.
#![allow(dead_code)]

use chatvault_core::sources::model::{Account, ChatSink, Contact, Conversation, Message};

/// Keeps what a reader reports, in order.
#[derive(Default)]
pub struct Collect {
    pub account: Option<Account>,
    pub contacts: Vec<Contact>,
    pub conversations: Vec<Conversation>,
    pub messages: Vec<Message>,
    pub warnings: Vec<String>,
}

impl ChatSink for Collect {
    fn account(&mut self, a: &Account) -> chatvault_core::Result<()> {
        self.account = Some(a.clone());
        Ok(())
    }
    fn contact(&mut self, c: &Contact) -> chatvault_core::Result<()> {
        self.contacts.push(c.clone());
        Ok(())
    }
    fn conversation(&mut self, c: &Conversation) -> chatvault_core::Result<()> {
        self.conversations.push(c.clone());
        Ok(())
    }
    fn message(&mut self, m: Message) -> chatvault_core::Result<()> {
        self.messages.push(m);
        Ok(())
    }
    fn warning(&mut self, w: String) {
        self.warnings.push(w);
    }
}
