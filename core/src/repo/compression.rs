//! Which files are worth compressing. Media and encrypted databases are already dense:
//! compressing them only burns battery, so they are recognised by their first bytes (or
//! their extension) and stored as they are. Everything else is compressed, and a blob whose
//! compression saves under 3 % is stored raw anyway (see `blob.rs`).

use std::path::Path;

const DENSE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "mp4", "m4v", "mov", "3gp", "mkv",
    "webm", "mp3", "m4a", "aac", "amr", "silk", "slk", "opus", "ogg", "oga", "flac", "zip", "gz",
    "xz", "zst", "bz2", "7z", "rar", "apk", "jar", "pdf", "docx", "xlsx", "pptx",
];

/// True when a file with this name and these first bytes should not be compressed.
pub fn is_dense(path: &Path, head: &[u8]) -> bool {
    let by_magic = head.starts_with(&[0xFF, 0xD8, 0xFF]) // JPEG
        || head.starts_with(b"\x89PNG")
        || head.starts_with(b"GIF8")
        || (head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP"))
        || head.get(4..8) == Some(b"ftyp") // MP4, MOV, HEIC, 3GP
        || head.starts_with(b"#!AMR")
        || head.starts_with(b"#!SILK")
        || head.starts_with(b"\x02#!SILK") // WeChat voice
        || head.starts_with(b"OggS")
        || head.starts_with(b"PK\x03\x04")
        || head.starts_with(&[0x1F, 0x8B])
        || head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]);
    let by_ext = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DENSE_EXTENSIONS.iter().any(|d| d.eq_ignore_ascii_case(e)));
    by_magic || by_ext
}

const MEDIA_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "bmp", "mp4", "m4v", "mov", "3gp",
    "mkv", "webm", "mp3", "m4a", "aac", "amr", "silk", "slk", "opus", "ogg", "oga", "wav",
];

/// True for photos, videos and voice messages, by extension (for "exclude media" plans).
pub fn is_media(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MEDIA_EXTENSIONS.iter().any(|d| d.eq_ignore_ascii_case(e)))
}
