#![no_main]
//! WhatsApp backup headers (crypt15/crypt14 protobuf, crypt12 raw) and 64-digit keys: any
//! bytes give a header or an error, never a panic.
use chatvault_core::sources::whatsapp_db::crypt::{parse_header, BackupKey, MAX_HEADER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = parse_header(data) {
        assert!(h.data_offset <= data.len().max(MAX_HEADER));
    }
    let _ = BackupKey::from_hex(&String::from_utf8_lossy(data));
});
