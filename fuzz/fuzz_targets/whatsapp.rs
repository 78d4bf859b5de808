#![no_main]
//! WhatsApp chat text: any bytes parse or fail with an error, never panic or hang.
use libfuzzer_sys::fuzz_target;

#[path = "sink.rs"]
mod sink;

fuzz_target!(|data: &[u8]| {
    let _ = chatvault_core::sources::whatsapp::parse_text(data, "chat.txt", &Default::default(), &mut sink::Sink);
});
