//! The chat index writer on a thread of its own: the reader hands it records in batches, so
//! reading an export and writing its index use two cores instead of one.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::index::ChatIndexWriter;
use super::source_rows::{Conversations, ReadRow, RowsSink, UnchangedRow};
use crate::error::{Error, Result};
use crate::sources::model::{Account, ChatSink, Contact, Conversation, MediaKey, Message};

/// Records per hand-over: enough to make it cheap, few enough to keep memory flat.
const BATCH: usize = 512;
/// Batches on their way between the two threads.
const IN_FLIGHT: usize = 4;

/// What a reader delivers, owned so it can cross threads. Nearly every record is a
/// message, so boxing the large variant would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
enum Record {
    Account(Account),
    Contact(Contact),
    Conversation(Conversation),
    Message(Message, Option<ReadRow>),
    Unchanged(UnchangedRow),
    BeginRows([u8; 32], [u8; 16], Conversations),
    Warning(String),
    MediaKey(String, MediaKey),
}

impl Record {
    fn write(self, w: &mut ChatIndexWriter) -> Result<()> {
        match self {
            Record::Account(a) => w.account(&a),
            Record::Contact(c) => w.contact(&c),
            Record::Conversation(c) => w.conversation(&c),
            Record::Message(m, row) => w.messages_of_rows([(m, row)]),
            Record::Unchanged(row) => w.unchanged(row),
            Record::BeginRows(context, key, remembered) => {
                w.begin_rows(context, key, remembered);
                Ok(())
            }
            Record::Warning(s) => {
                w.warning(s);
                Ok(())
            }
            Record::MediaKey(path, key) => w.media_key(&path, &key),
        }
    }
}

/// A [`ChatSink`] that forwards everything, in order, to a [`ChatIndexWriter`] on a scoped
/// thread. [`WriterThread::finish`] waits for the last record and returns the writer.
pub(crate) struct WriterThread<'scope> {
    batch: Vec<Record>,
    tx: Option<SyncSender<Vec<Record>>>,
    /// Batches the writer emptied, to fill again: a batch is some 150 KiB, which the
    /// allocator would map and unmap afresh for every one.
    emptied: Receiver<Vec<Record>>,
    /// How long the reader waited for the writer to take a batch.
    waited: Duration,
    handle: Option<ScopedJoinHandle<'scope, Result<ChatIndexWriter>>>,
}

impl<'scope> WriterThread<'scope> {
    /// Starts a new thread of `scope` that opens the writer (`open`, which may take a
    /// while: records wait for it) and writes what it is handed.
    pub(crate) fn spawn<'env>(
        scope: &'scope Scope<'scope, 'env>,
        open: impl FnOnce() -> Result<ChatIndexWriter> + Send + 'scope,
    ) -> Result<Self> {
        let (tx, rx) = sync_channel::<Vec<Record>>(IN_FLIGHT);
        let (emptied_tx, emptied) = sync_channel::<Vec<Record>>(IN_FLIGHT + 1);
        let handle = std::thread::Builder::new()
            .name("chatvault-index".into())
            .spawn_scoped(scope, move || {
                let mut writer = open()?;
                let mut messages = Vec::with_capacity(BATCH);
                let started = Instant::now();
                let mut waited = Duration::ZERO;
                loop {
                    let asked = Instant::now();
                    let Ok(mut batch) = rx.recv() else { break };
                    waited += asked.elapsed();
                    // Runs of messages go in through one statement.
                    for record in batch.drain(..) {
                        match record {
                            Record::Message(m, row) => messages.push((m, row)),
                            other => {
                                writer.messages_of_rows(messages.drain(..))?;
                                other.write(&mut writer)?;
                            }
                        }
                    }
                    writer.messages_of_rows(messages.drain(..))?;
                    // The reader may have stopped taking them back.
                    let _ = emptied_tx.try_send(batch);
                }
                // Which side of the hand-over is slower (the other waits).
                log::debug!(
                    "chat index writer: {:.1}s writing, {:.1}s waiting for the reader",
                    (started.elapsed() - waited).as_secs_f64(),
                    waited.as_secs_f64()
                );
                Ok(writer)
            })
            .map_err(|e| Error::internal_from("cannot start the chat index writer", e))?;
        Ok(WriterThread {
            batch: Vec::with_capacity(BATCH),
            tx: Some(tx),
            emptied,
            waited: Duration::ZERO,
            handle: Some(handle),
        })
    }

    fn push(&mut self, record: Record) -> Result<()> {
        self.batch.push(record);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let next = self
            .emptied
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        let asked = Instant::now();
        let sent = self.tx.as_ref().map(|tx| tx.send(batch).is_ok());
        self.waited += asked.elapsed();
        match sent {
            Some(true) => Ok(()),
            // The writer stopped: its own error says why.
            _ => self
                .join()
                .and(Err(Error::internal("the chat index writer stopped"))),
        }
    }

    fn join(&mut self) -> Result<ChatIndexWriter> {
        drop(self.tx.take());
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::internal("the chat index writer panicked")),
            None => Err(Error::internal("the chat index writer stopped")),
        }
    }

    /// Hands over the last records, waits for them to be written, and returns the writer.
    pub(crate) fn finish(mut self) -> Result<ChatIndexWriter> {
        if !self.batch.is_empty() {
            self.flush()?;
        }
        log::debug!(
            "chat index reader: waited {:.1}s for the writer",
            self.waited.as_secs_f64()
        );
        self.join()
    }
}

impl ChatSink for WriterThread<'_> {
    fn account(&mut self, account: &Account) -> Result<()> {
        self.push(Record::Account(account.clone()))
    }
    fn contact(&mut self, contact: &Contact) -> Result<()> {
        self.push(Record::Contact(contact.clone()))
    }
    fn conversation(&mut self, conversation: &Conversation) -> Result<()> {
        self.push(Record::Conversation(conversation.clone()))
    }
    fn message(&mut self, message: Message) -> Result<()> {
        self.push(Record::Message(message, None))
    }
    fn warning(&mut self, warning: String) {
        // A writer that stopped reports its error at the next record or at finish.
        let _ = self.push(Record::Warning(warning));
    }
    fn media_key(&mut self, path: &str, key: &MediaKey) -> Result<()> {
        self.push(Record::MediaKey(path.to_string(), key.clone()))
    }
}

impl RowsSink for WriterThread<'_> {
    fn begin_rows(
        &mut self,
        context: [u8; 32],
        key: [u8; 16],
        remembered: Conversations,
    ) -> Result<()> {
        self.push(Record::BeginRows(context, key, remembered))
    }
    fn row_message(&mut self, message: Message, row: ReadRow) -> Result<()> {
        self.push(Record::Message(message, Some(row)))
    }
    fn unchanged(&mut self, row: UnchangedRow) -> Result<()> {
        self.push(Record::Unchanged(row))
    }
}
