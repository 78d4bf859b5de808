#![no_main]
//! The chat index as bytes on disk: a backup resumes the parent snapshot's index (cursors,
//! waiting messages, the table of unmatched rows) and every reader opens it. In the
//! repository the index is authenticated, so damage means a bug or another program's
//! index; either way it must give an error, never a panic. The input is a list of edits
//! (offset u24 LE, byte; the index's 16 KiB pages put the messages table past the first
//! 64 KiB) to a valid index made here, so the mutations land in real pages.
use chatvault_core::chat::{ChatIndex, ChatIndexWriter};
use chatvault_core::sources::model::{
    ChatSink, MediaKind, MediaRef, Message, MessageDetails, MessageKind, Timestamp,
};
use libfuzzer_sys::fuzz_target;

fn message(i: u32) -> Message {
    Message {
        id: i.to_string(),
        server_id: None,
        conversation: if i % 3 == 0 { "c".into() } else { "d".into() },
        sender: Some("a".into()),
        sender_name: None,
        from_me: i % 2 == 0,
        time: Timestamp::Utc(1_700_000_000_000 + i64::from(i) * 60_000),
        kind: MessageKind::Text,
        text: format!("message {i} 你好"),
        reply_to: None,
        quote: None,
        media: (i % 4 == 0).then(|| MediaRef {
            path: format!("media/{i}.jpg"),
            kind: MediaKind::Image,
            present: i % 8 == 0,
            thumbnail: None,
        }),
        raw: None,
        edited: false,
        details: MessageDetails::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chats.sqlite");
    let mut w = ChatIndexWriter::create(&path).unwrap();
    for i in 0..40 {
        w.message(message(i)).unwrap();
    }
    w.finish("telegram").unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    for edit in data.chunks_exact(4) {
        let at = u32::from_le_bytes([edit[0], edit[1], edit[2], 0]) as usize % bytes.len();
        bytes[at] = edit[3];
    }
    std::fs::write(&path, &bytes).unwrap();
    // Resumed as the next backup does: some messages again (out of order), some new.
    if let Ok(Some(mut w)) = ChatIndexWriter::resume(&path, "telegram", Some(dir.path())) {
        if w.messages((10..50).rev().map(message)).is_ok() {
            let _ = w.finish_index("telegram");
        }
    }
    if let Ok(index) = ChatIndex::open(&path) {
        let _ = index.conversations();
        let _ = index.search("message", None, 10);
        let _ = index.for_each_message("c", |_| Ok(()));
    }
});
