#![no_main]
//! iPhone backups: the keybag TLV (`BackupKeyBag`) and a file's NSKeyedArchiver `MBFile`
//! record from `Manifest.db`: any bytes give a value or an error, never a panic.
use chatvault_core::sources::iphone_backup::keybag::{tlv, Keybag};
use chatvault_core::sources::iphone_backup::manifest::{parse_record, stored_rel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = tlv(data) {
        assert!(entries.iter().map(|(_, v)| v.len() + 8).sum::<usize>() == data.len());
    }
    if let Ok(kb) = Keybag::parse(data) {
        assert!(!kb.classes.is_empty());
    }
    let _ = parse_record(data);
    let _ = stored_rel(&String::from_utf8_lossy(data));
});
