#![no_main]
//! WhatsApp's databases (Android's msgstore.db, iPhone's ChatStorage.sqlite) as bytes on
//! disk: the seeds are databases our generator writes (scripts/fuzz.sh makes them), so the
//! mutations are damaged pages, odd values and broken protobuf blobs inside real tables.
//! Any bytes give messages or an error, never a panic, and no media path leaves the folder.
mod sink;

use std::collections::HashMap;
use std::path::Path;

use chatvault_core::sources::whatsapp_db::{chatstorage, msgstore, protobuf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    std::fs::write(&db, data).unwrap();
    let names = HashMap::new();
    let layout = msgstore::Layout {
        root: dir.path(),
        wa_root: dir.path(),
        shown: Path::new("msgstore.db"),
        work_dir: Some(dir.path()),
    };
    let _ = msgstore::read(&db, &layout, &names, &mut sink::Sink);
    let layout = chatstorage::Layout {
        media: chatstorage::MediaPlace::Folder {
            root: dir.path(),
            group: dir.path(),
        },
        wal: None,
        shown: Path::new("ChatStorage.sqlite"),
        work_dir: Some(dir.path()),
    };
    let _ = chatstorage::read(&db, &layout, &names, &mut sink::Sink);
    let _ = chatstorage::read_contacts(&db, None, Path::new("ContactsV2.sqlite"), None, &mut sink::Sink);
    // The protobuf walker on the raw bytes too.
    let _ = protobuf::bytes_at(data, &[19, 6, 1]);
    let _ = protobuf::all_bytes(data, 7);
});
