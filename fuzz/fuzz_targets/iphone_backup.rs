#![no_main]
//! iPhone backups: the keybag TLV (`BackupKeyBag`), a file's NSKeyedArchiver `MBFile`
//! record from `Manifest.db` and an older backup's `Manifest.mbdb`: any bytes give a value
//! or an error, never a panic.
use chatvault_core::sources::iphone_backup::keybag::{tlv, Keybag};
use chatvault_core::sources::iphone_backup::manifest::{parse_record, stored_rel};
use chatvault_core::sources::iphone_backup::mbdb;
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
    // As the body of a Manifest.mbdb, after its header.
    let mut file = b"mbdb\x05\x00".to_vec();
    file.extend_from_slice(data);
    if let Ok(records) = mbdb::parse(&file) {
        for r in records {
            assert_eq!(r.file_id().len(), 40);
        }
    }
});
