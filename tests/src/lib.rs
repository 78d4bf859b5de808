//! Fixture generators shared by the demo, the end-to-end tests and the benchmarks.
//!
//! [`generate_export`] writes a WeChat-like chat export: a SQLite message database with
//! indexes (4 KiB pages, as the app's own), incompressible media files under dated folders,
//! and a few oddly named files. [`add_day`] changes it in place the way a day of use does:
//! new rows scattered through the database's tables and indexes, a few new media files.
//! Everything is deterministic for a given seed.

pub mod chat_exports;
pub mod fault_proxy;
pub mod iphone_backup;
pub mod servers;
pub mod whatsapp_db;
pub mod whatsapp_exporter;
pub mod whatsapp_ios;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use rusqlite::{params, Connection};

/// Size of a generated export.
#[derive(Debug, Clone, Copy)]
pub struct ExportSpec {
    /// Messages in the database.
    pub messages: u64,
    /// Conversations they are spread over.
    pub conversations: u64,
    /// Media files.
    pub media_files: u64,
    /// Average media file size in bytes.
    pub media_avg_bytes: u64,
    /// Seed of the generator.
    pub seed: u64,
}

impl ExportSpec {
    /// About 2 MiB: quick demos and tests.
    pub fn small() -> Self {
        ExportSpec {
            messages: 5_000,
            conversations: 12,
            media_files: 12,
            media_avg_bytes: 100 * 1024,
            seed: 7,
        }
    }

    /// An export of roughly `mib` MiB, 40 % database and 60 % media, like real ones.
    pub fn sized(mib: u64) -> Self {
        let bytes = mib * 1024 * 1024;
        // About 230 bytes of database (rows + indexes) per message.
        let messages = (bytes * 4 / 10 / 230).max(100);
        let media_avg_bytes = 512 * 1024;
        ExportSpec {
            messages,
            conversations: 50.max(messages / 5000),
            media_files: (bytes * 6 / 10 / media_avg_bytes).max(1),
            media_avg_bytes,
            seed: 7,
        }
    }
}

/// Facts about a generated export, for assertions.
#[derive(Debug, Clone)]
pub struct ExportFacts {
    /// Root of the export.
    pub root: PathBuf,
    /// The message database.
    pub database: PathBuf,
    /// Messages in it.
    pub messages: u64,
    /// Media files written.
    pub media_files: u64,
}

const WORDS: &[&str] = &[
    "你好",
    "今天",
    "晚上",
    "一起",
    "吃饭",
    "好的",
    "明天见",
    "哈哈哈",
    "收到",
    "谢谢",
    "周末",
    "电影",
    "开会",
    "妈妈",
    "回家",
    "hello",
    "ok",
    "see you",
    "lunch?",
    "😂",
    "👍",
    "🎉",
    "❤️",
    "on my way",
    "call me",
    "图片",
    "语音",
    "红包",
    "转账",
    "地址",
    "北京",
    "上海",
    "微信",
];

fn sentence(rng: &mut SmallRng) -> String {
    let n = rng.random_range(1..12);
    (0..n)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn open_db(path: &Path) -> io::Result<Connection> {
    Connection::open(path).map_err(io::Error::other)
}

fn create_schema(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "PRAGMA page_size = 4096;
         PRAGMA journal_mode = DELETE;
         CREATE TABLE rcontact (username TEXT PRIMARY KEY, nickname TEXT, conRemark TEXT, type INTEGER);
         CREATE TABLE message (msgId INTEGER PRIMARY KEY, msgSvrId INTEGER, type INTEGER, isSend INTEGER,
                               createTime INTEGER, talker TEXT, content TEXT, imgPath TEXT);
         CREATE INDEX messageTalkerIndex ON message(talker);
         CREATE INDEX messageCreateTimeIndex ON message(createTime);
         CREATE INDEX messageSvrIdIndex ON message(msgSvrId);
         CREATE INDEX messageTalkerTimeIndex ON message(talker, createTime);",
    )
}

fn insert_messages(
    db: &mut Connection,
    rng: &mut SmallRng,
    conversations: u64,
    first_id: u64,
    count: u64,
    start_time: i64,
) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    {
        let mut st = tx.prepare("INSERT INTO message (msgId, msgSvrId, type, isSend, createTime, talker, content, imgPath) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        for i in 0..count {
            let talker = format!("wxid_{:08x}", rng.random_range(0..conversations) * 7919);
            let kind = if rng.random_range(0..10) == 0 { 3 } else { 1 };
            let img = if kind == 3 {
                Some(format!("THUMBNAIL_DIRPATH://th_{:016x}", rng.next_u64()))
            } else {
                None
            };
            st.execute(params![
                (first_id + i) as i64,
                rng.next_u64() as i64 >> 1,
                kind,
                rng.random_range(0..2),
                (start_time + (i as i64) * 37) * 1000,
                talker,
                sentence(rng),
                img
            ])?;
        }
    }
    tx.commit()
}

fn write_media(dir: &Path, rng: &mut SmallRng, n: u64, avg: u64, tag: &str) -> io::Result<()> {
    for i in 0..n {
        let (sub, ext, magic): (&str, &str, &[u8]) = match i % 3 {
            0 => ("image/2026-03", "jpg", &[0xFF, 0xD8, 0xFF, 0xE0]),
            1 => ("voice/2026-03", "amr", b"#!AMR\n"),
            _ => ("video/2026-03", "mp4", b"\0\0\0\x18ftypmp42"),
        };
        let d = dir.join("media").join(sub);
        fs::create_dir_all(&d)?;
        let size = rng
            .random_range(avg / 2..=avg + avg / 2)
            .max(magic.len() as u64) as usize;
        let mut data = vec![0u8; size];
        rng.fill_bytes(&mut data);
        data[..magic.len()].copy_from_slice(magic);
        fs::write(d.join(format!("{tag}{i:05}.{ext}")), data)?;
    }
    Ok(())
}

/// Writes an export under `dir` (created).
pub fn generate_export(dir: &Path, spec: &ExportSpec) -> io::Result<ExportFacts> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    fs::create_dir_all(dir.join("db"))?;
    let database = dir.join("db").join("EnMicroMsg.db");
    if database.exists() {
        fs::remove_file(&database)?;
    }
    let mut db = open_db(&database)?;
    create_schema(&db).map_err(io::Error::other)?;
    {
        let tx = db.transaction().map_err(io::Error::other)?;
        for c in 0..spec.conversations {
            tx.execute(
                "INSERT INTO rcontact (username, nickname, conRemark, type) VALUES (?1, ?2, ?3, 3)",
                params![
                    format!("wxid_{:08x}", c * 7919),
                    format!("联系人 {c} 🌸"),
                    if c % 3 == 0 {
                        format!("同事{c}")
                    } else {
                        String::new()
                    }
                ],
            )
            .map_err(io::Error::other)?;
        }
        tx.commit().map_err(io::Error::other)?;
    }
    insert_messages(
        &mut db,
        &mut rng,
        spec.conversations,
        1,
        spec.messages,
        1_700_000_000,
    )
    .map_err(io::Error::other)?;
    drop(db);
    write_media(dir, &mut rng, spec.media_files, spec.media_avg_bytes, "m")?;
    fs::create_dir_all(dir.join("文件 Files"))?;
    fs::write(
        dir.join("文件 Files").join("会议纪要 — notes ✓.txt"),
        "周一 10:00 开会\nMonday 10:00 meeting\n".repeat(50),
    )?;
    fs::write(dir.join("empty.txt"), b"")?;
    Ok(ExportFacts {
        root: dir.to_path_buf(),
        database,
        messages: spec.messages,
        media_files: spec.media_files,
    })
}

/// A day of use: `messages` new rows (spread over every conversation, so the indexes change
/// throughout the file) and `media_files` new media files. Returns the new message count.
pub fn add_day(facts: &ExportFacts, messages: u64, media_files: u64, seed: u64) -> io::Result<u64> {
    add_day_with_media(facts, messages, media_files, 256 * 1024, seed)
}

/// [`add_day`] with new media files of about `media_avg_bytes` each.
pub fn add_day_with_media(
    facts: &ExportFacts,
    messages: u64,
    media_files: u64,
    media_avg_bytes: u64,
    seed: u64,
) -> io::Result<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut db = open_db(&facts.database)?;
    let conversations: u64 = db
        .query_row("SELECT count(*) FROM rcontact", [], |r| r.get::<_, i64>(0))
        .map_err(io::Error::other)? as u64;
    let next: i64 = db
        .query_row("SELECT coalesce(max(msgId), 0) + 1 FROM message", [], |r| {
            r.get(0)
        })
        .map_err(io::Error::other)?;
    insert_messages(
        &mut db,
        &mut rng,
        conversations.max(1),
        next as u64,
        messages,
        1_760_000_000 + seed as i64 * 86_400,
    )
    .map_err(io::Error::other)?;
    let total: i64 = db
        .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
        .map_err(io::Error::other)?;
    drop(db);
    write_media(
        &facts.root,
        &mut rng,
        media_files,
        media_avg_bytes,
        &format!("d{seed}-"),
    )?;
    Ok(total as u64)
}

/// Counts the messages in a database (to check a restored copy opens and is complete).
pub fn count_messages(database: &Path) -> io::Result<u64> {
    let db = open_db(database)?;
    let n: i64 = db
        .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
        .map_err(io::Error::other)?;
    Ok(n as u64)
}

/// Writes a random tree: nested directories with unicode names, empty files, small and
/// medium files of random or repetitive content. Returns the number of files.
pub fn random_tree(dir: &Path, seed: u64, files: usize) -> io::Result<usize> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let names = [
        "a",
        "数据",
        "Ünïcødé",
        "emoji 😀",
        "space name",
        "x.y.z",
        ".hidden",
        "ক",
        "очень",
    ];
    let mut dirs = vec![dir.to_path_buf()];
    fs::create_dir_all(dir)?;
    for i in 0..files {
        if rng.random_range(0..4) == 0 && dirs.len() < 40 {
            let parent = dirs[rng.random_range(0..dirs.len())].clone();
            let d = parent.join(format!("{}-{i}", names[rng.random_range(0..names.len())]));
            fs::create_dir_all(&d)?;
            dirs.push(d);
        }
        let parent = &dirs[rng.random_range(0..dirs.len())];
        let name = format!("{}-{i}.bin", names[rng.random_range(0..names.len())]);
        let size = match rng.random_range(0..6) {
            0 => 0,
            1 => rng.random_range(1..100),
            2 => rng.random_range(100..10_000),
            3 => rng.random_range(10_000..300_000),
            _ => rng.random_range(300_000..3_000_000),
        };
        let mut data = vec![0u8; size];
        if rng.random_bool(0.5) {
            rng.fill_bytes(&mut data);
        } else {
            for (j, b) in data.iter_mut().enumerate() {
                *b = b"chat log line "[j % 14];
            }
        }
        fs::write(parent.join(name), data)?;
    }
    // A deep path.
    let mut deep = dir.to_path_buf();
    for level in 0..30 {
        deep = deep.join(format!("深{level}"));
    }
    fs::create_dir_all(&deep)?;
    fs::write(deep.join("bottom.txt"), b"deep")?;
    Ok(files + 1)
}

/// Differences between two trees: missing or extra entries, differing content, sizes,
/// modification times (to the nanosecond) or permissions. Empty means identical.
pub fn compare_trees(expected: &Path, actual: &Path) -> io::Result<Vec<String>> {
    let mut diffs = Vec::new();
    compare_dir(expected, actual, &mut diffs)?;
    Ok(diffs)
}

fn compare_dir(a: &Path, b: &Path, diffs: &mut Vec<String>) -> io::Result<()> {
    let list = |p: &Path| -> io::Result<Vec<std::ffi::OsString>> {
        let mut v: Vec<_> = fs::read_dir(p)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        v.sort();
        Ok(v)
    };
    let (la, lb) = (list(a)?, list(b)?);
    for name in &lb {
        if !la.contains(name) {
            diffs.push(format!("extra: {}", b.join(name).display()));
        }
    }
    for name in la {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let ma = fs::symlink_metadata(&pa)?;
        let Ok(mb) = fs::symlink_metadata(&pb) else {
            diffs.push(format!("missing: {}", pb.display()));
            continue;
        };
        if ma.file_type() != mb.file_type() {
            diffs.push(format!("type differs: {}", pb.display()));
        } else if ma.is_dir() {
            compare_dir(&pa, &pb, diffs)?;
        } else if ma.is_file() {
            if ma.len() != mb.len() || fs::read(&pa)? != fs::read(&pb)? {
                diffs.push(format!("content differs: {}", pb.display()));
            }
            if ma.modified()? != mb.modified()? {
                diffs.push(format!("mtime differs: {}", pb.display()));
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if ma.permissions().mode() != mb.permissions().mode() {
                    diffs.push(format!("mode differs: {}", pb.display()));
                }
            }
        } else if ma.file_type().is_symlink() && fs::read_link(&pa)? != fs::read_link(&pb)? {
            diffs.push(format!("link target differs: {}", pb.display()));
        }
    }
    Ok(())
}

/// Writes `count` files of incompressible random bytes, `size` bytes each, into `dir`.
pub fn random_files(dir: &Path, count: usize, size: usize, seed: u64) -> io::Result<()> {
    let mut rng = SmallRng::seed_from_u64(seed);
    fs::create_dir_all(dir)?;
    let mut data = vec![0u8; size];
    for i in 0..count {
        rng.fill_bytes(&mut data);
        fs::write(dir.join(format!("media-{seed}-{i:04}.jpg")), &data)?;
    }
    Ok(())
}

/// Copies a tree of files (writable copies, so tests may change them).
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            fs::write(&dest, fs::read(e.path())?)?;
        }
    }
    Ok(())
}
