#![no_main]
//! Telegram messages*.html pages: any bytes read or fail with an error, never panic, and no
//! href outside the export becomes a media path (the sink checks).
use std::path::Path;

use chatvault_core::sources::telegram::html::{PageContext, PageState};
use libfuzzer_sys::fuzz_target;

#[path = "sink.rs"]
mod sink;

fuzz_target!(|data: &[u8]| {
    let root = Path::new("/nonexistent-fuzz-root");
    let dir = root.join("chats/chat_1");
    let cx = PageContext {
        root,
        dir: &dir,
        page: "messages.html",
        conversation: "fuzz",
        check_files: false,
    };
    let mut state = PageState::default();
    // Twice, as two pages of one chat: state carries over.
    for _ in 0..2 {
        let _ = chatvault_core::sources::telegram::read_html_page(
            data,
            &cx,
            &mut state,
            &mut sink::Sink,
        );
    }
});
