//! Media an export stores encrypted (an encrypted iPhone backup's files, kept as they are in
//! the snapshot), decrypted after a restore with the keys the chat index holds for them
//! ([`ChatIndex::media_key`]), so a restored chat's photos and voice messages open without
//! the backup's password.

use std::path::Path;

use super::ChatIndex;
use crate::error::Result;

/// Decrypts in place each of `paths` (inside the export) restored under `dir` that the
/// index has a key for; returns how many it decrypted. A file is replaced only once its
/// plaintext is complete (written beside it, then renamed over it).
pub(crate) fn decrypt_restored<'p>(
    chats: &ChatIndex,
    dir: &Path,
    paths: impl IntoIterator<Item = &'p String>,
) -> Result<u64> {
    let mut done = 0;
    for path in paths {
        let Some(key) = chats.media_key(path)? else {
            continue;
        };
        let file = dir.join(path);
        if !file.is_file() {
            continue;
        }
        decrypt_in_place(&file, &key)?;
        done += 1;
    }
    Ok(done)
}

#[cfg(feature = "iphone-backup")]
fn decrypt_in_place(file: &Path, key: &crate::sources::model::MediaKey) -> Result<()> {
    use crate::error::Error;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = file.with_file_name(format!(".{name}.decrypting"));
    // A leftover of an interrupted run is ours to replace (created new below, so a link
    // planted there is never followed).
    let _ = std::fs::remove_file(&tmp);
    let result =
        crate::sources::iphone_backup::decrypt::decrypt_file(&key.key, file, &tmp, Some(key.size))
            .and_then(|_| {
                std::fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Error::io("sync", &tmp, e))
            })
            .and_then(|()| std::fs::rename(&tmp, file).map_err(|e| Error::io("rename", &tmp, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Without the iPhone-backup reader (the phone library) the files stay as stored.
#[cfg(not(feature = "iphone-backup"))]
fn decrypt_in_place(file: &Path, _key: &crate::sources::model::MediaKey) -> Result<()> {
    Err(crate::error::Error::Source {
        path: file.to_path_buf(),
        reason: "stored encrypted (an encrypted iPhone backup's file); this build cannot \
                 decrypt it: restore the chat with the chatvault CLI on a PC"
            .into(),
    })
}
