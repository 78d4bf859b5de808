#![no_main]
//! Telegram result.json: any bytes parse or fail with an error, never panic.
use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[path = "sink.rs"]
mod sink;

fuzz_target!(|data: &[u8]| {
    let base = Path::new("/nonexistent-fuzz-base");
    let _ = chatvault_core::sources::telegram::read_json(
        data,
        Path::new("result.json"),
        base,
        base,
        true,
        &mut sink::Sink,
    );
});
