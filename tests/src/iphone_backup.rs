//! iPhone (iTunes/Finder) backups around a folder laid out by path: [`write_backup`] stores
//! every file of one domain as `fileID[0..2]/fileID` (fileID = SHA-1 of
//! `domain-relativePath`), indexes them in `Manifest.db` (table `Files`, each row with its
//! NSKeyedArchiver `MBFile` record) and writes `Manifest.plist`, `Info.plist` and
//! `Status.plist`. With a password the backup is encrypted the way iOS does it: a keybag of
//! class keys wrapped (RFC 3394) with PBKDF2-SHA1(PBKDF2-SHA256(password, DPSL, DPIC), SALT,
//! ITER); a random key per file, wrapped with its class key, AES-256-CBC (zero IV, PKCS#7);
//! `Manifest.db` likewise under `ManifestKey`. Deterministic for a given seed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use plist::{Dictionary, Uid, Value};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use rusqlite::{params, Connection};
use sha1::{Digest, Sha1};

/// WeChat's domain in a backup.
pub const WECHAT_DOMAIN: &str = "AppDomain-com.tencent.xin";
/// WeChat's bundle id.
pub const WECHAT_BUNDLE: &str = "com.tencent.xin";
/// WhatsApp's app-group domain in a backup.
pub const WHATSAPP_DOMAIN: &str = "AppDomainGroup-group.net.whatsapp.WhatsApp.shared";
/// WhatsApp's bundle id.
pub const WHATSAPP_BUNDLE: &str = "net.whatsapp.WhatsApp";
/// The protection class of the files and of `Manifest.db` ("until first unlock").
const CLASS: u32 = 3;

/// How to write a backup.
#[derive(Debug, Clone)]
pub struct BackupSpec {
    /// Encrypt with this password (else a plain backup).
    pub password: Option<String>,
    /// PBKDF2-SHA256 rounds (iOS: 10,000,000; kept small so tests stay quick).
    pub dpic: u32,
    /// PBKDF2-SHA1 rounds (iOS: 10,000).
    pub iter: u32,
    /// The domain every file is stored in.
    pub domain: String,
    /// The bundle id listed under `Applications`.
    pub bundle: String,
    /// Seed of keys and salts.
    pub seed: u64,
    /// The format of iOS 9 and earlier: `Manifest.mbdb`, files stored flat as `<fileID>`
    /// (plain only).
    pub mbdb: bool,
}

impl BackupSpec {
    /// A backup of WeChat's domain, encrypted if `password` is given.
    pub fn wechat(password: Option<&str>) -> Self {
        BackupSpec {
            password: password.map(str::to_string),
            dpic: 10_000,
            iter: 1_000,
            domain: WECHAT_DOMAIN.into(),
            bundle: WECHAT_BUNDLE.into(),
            seed: 19,
            mbdb: false,
        }
    }
}

impl BackupSpec {
    /// A backup of WhatsApp's app group, encrypted if `password` is given.
    pub fn whatsapp(password: Option<&str>) -> Self {
        BackupSpec {
            domain: WHATSAPP_DOMAIN.into(),
            bundle: WHATSAPP_BUNDLE.into(),
            ..BackupSpec::wechat(password)
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct BackupFacts {
    /// Files stored: (relative path in the domain, fileID).
    pub files: Vec<(String, String)>,
    /// The plaintext `Manifest.db` (for an encrypted backup, what decrypting it must give).
    pub manifest_plain: Vec<u8>,
}

impl BackupFacts {
    /// The fileID of the file at `relative_path`.
    pub fn file_id(&self, relative_path: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(p, _)| p == relative_path)
            .map(|(_, id)| id.as_str())
    }
}

/// SHA-1 of `domain-relativePath`, lower-case hex: a file's id and stored name.
pub fn file_id(domain: &str, relative_path: &str) -> String {
    let mut h = Sha1::new();
    h.update(domain.as_bytes());
    h.update(b"-");
    h.update(relative_path.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// AES-256-CBC, zero IV, PKCS#7 padding.
fn encrypt(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new(key.into(), &[0u8; 16].into())
        .encrypt_padded_vec_mut::<Pkcs7>(data)
}

/// RFC 3394 key wrap of a 32-byte key.
fn wrap(kek: &[u8; 32], key: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![0u8; 40];
    aes_kw::KekAes256::from(*kek)
        .wrap(key, &mut out)
        .expect("a 32-byte key wraps into 40 bytes");
    out
}

fn tlv(out: &mut Vec<u8>, tag: &[u8; 4], value: &[u8]) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// An encrypted backup's keys: the keybag's bytes and the class keys it holds.
struct Keys {
    keybag: Vec<u8>,
    classes: Vec<(u32, [u8; 32])>,
}

fn keys(spec: &BackupSpec, password: &str, rng: &mut SmallRng) -> Keys {
    let mut bytes = |n: usize| {
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    };
    let (salt, dpsl, uuid, hmck) = (bytes(20), bytes(20), bytes(16), bytes(40));
    let mut round1 = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &dpsl, spec.dpic, &mut round1);
    let mut pkey = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(&round1, &salt, spec.iter, &mut pkey);
    let mut kb = Vec::new();
    tlv(&mut kb, b"VERS", &4u32.to_be_bytes());
    tlv(&mut kb, b"TYPE", &1u32.to_be_bytes());
    tlv(&mut kb, b"UUID", &uuid);
    tlv(&mut kb, b"HMCK", &hmck);
    tlv(&mut kb, b"WRAP", &0u32.to_be_bytes());
    tlv(&mut kb, b"SALT", &salt);
    tlv(&mut kb, b"ITER", &spec.iter.to_be_bytes());
    tlv(&mut kb, b"DPWT", &1u32.to_be_bytes());
    tlv(&mut kb, b"DPIC", &spec.dpic.to_be_bytes());
    tlv(&mut kb, b"DPSL", &dpsl);
    let mut classes = Vec::new();
    for class in 1..=11u32 {
        if class == 5 {
            continue; // iOS has no class 5 key in backups
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes(32));
        tlv(&mut kb, b"UUID", &bytes(16));
        tlv(&mut kb, b"CLAS", &class.to_be_bytes());
        tlv(&mut kb, b"WRAP", &2u32.to_be_bytes());
        tlv(&mut kb, b"KTYP", &0u32.to_be_bytes());
        tlv(&mut kb, b"WPKY", &wrap(&pkey, &key));
        classes.push((class, key));
    }
    Keys {
        keybag: kb,
        classes,
    }
}

/// The `MBFile` record (NSKeyedArchiver binary plist) of a file of `size` bytes at `path`;
/// with `key`, the wrapped file key prefixed by its class (little-endian).
fn record(path: &str, size: u64, mode: i64, inode: u64, key: Option<Vec<u8>>) -> Vec<u8> {
    let mut file = Dictionary::new();
    file.insert(
        "$class".into(),
        Value::Uid(Uid::new(if key.is_some() { 5 } else { 3 })),
    );
    for (k, v) in [
        ("Birth", 1_700_000_000i64),
        ("LastModified", 1_700_000_100),
        ("LastStatusChange", 1_700_000_100),
        ("Flags", 0),
        ("GroupID", 501),
        ("UserID", 501),
        ("Mode", mode),
    ] {
        file.insert(k.into(), Value::Integer(v.into()));
    }
    file.insert("InodeNumber".into(), Value::Integer(inode.into()));
    file.insert(
        "ProtectionClass".into(),
        Value::Integer(u64::from(CLASS).into()),
    );
    file.insert("Size".into(), Value::Integer(size.into()));
    file.insert("RelativePath".into(), Value::Uid(Uid::new(2)));
    let class = |name: &str, chain: &[&str]| {
        let mut d = Dictionary::new();
        d.insert("$classname".into(), Value::String(name.into()));
        d.insert(
            "$classes".into(),
            Value::Array(chain.iter().map(|c| Value::String((*c).into())).collect()),
        );
        Value::Dictionary(d)
    };
    let mut objects = vec![
        Value::String("$null".into()),
        Value::Dictionary(Dictionary::new()),
    ];
    objects.push(Value::String(path.into()));
    if let Some(k) = key {
        file.insert("EncryptionKey".into(), Value::Uid(Uid::new(3)));
        let mut data = Dictionary::new();
        data.insert("NS.data".into(), Value::Data(k));
        data.insert("$class".into(), Value::Uid(Uid::new(4)));
        objects.push(Value::Dictionary(data));
        objects.push(class(
            "NSMutableData",
            &["NSMutableData", "NSData", "NSObject"],
        ));
    }
    objects.push(class("MBFile", &["MBFile", "NSObject"]));
    objects[1] = Value::Dictionary(file);
    let mut top = Dictionary::new();
    top.insert("root".into(), Value::Uid(Uid::new(1)));
    let mut root = Dictionary::new();
    root.insert("$version".into(), Value::Integer(100_000u64.into()));
    root.insert("$archiver".into(), Value::String("NSKeyedArchiver".into()));
    root.insert("$top".into(), Value::Dictionary(top));
    root.insert("$objects".into(), Value::Array(objects));
    let mut out = Vec::new();
    Value::Dictionary(root)
        .to_writer_binary(&mut out)
        .expect("a plist writes to memory");
    out
}

/// Every regular file and folder under `dir`, as `/`-separated paths relative to `root`,
/// folders before their contents, in name order.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf, bool)>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if e.file_type()?.is_dir() {
            out.push((rel, path.clone(), true));
            walk(root, &path, out)?;
        } else {
            out.push((rel, path, false));
        }
    }
    Ok(())
}

fn plist_bytes(d: Dictionary) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Value::Dictionary(d)
        .to_writer_binary(&mut out)
        .map_err(io::Error::other)?;
    Ok(out)
}

/// `Manifest.mbdb`'s string: big-endian length, then the bytes (`0xFFFF`: none).
fn mbdb_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        None => out.extend_from_slice(&[0xFF, 0xFF]),
    }
}

/// One `Manifest.mbdb` record (the layout of iOS 9 and earlier backups).
fn mbdb_record(out: &mut Vec<u8>, domain: &str, rel: &str, mode: u16, inode: u64, size: u64) {
    mbdb_string(out, Some(domain));
    mbdb_string(out, Some(rel));
    mbdb_string(out, None); // link target
    mbdb_string(
        out,
        if size > 0 {
            Some("0123456789abcdef0123")
        } else {
            None
        },
    ); // data hash
    mbdb_string(out, None); // encryption key
    out.extend_from_slice(&mode.to_be_bytes());
    out.extend_from_slice(&inode.to_be_bytes());
    out.extend_from_slice(&501u32.to_be_bytes()); // uid
    out.extend_from_slice(&501u32.to_be_bytes()); // gid
    for t in [1_450_000_100u32, 1_450_000_200, 1_450_000_100] {
        out.extend_from_slice(&t.to_be_bytes()); // mtime, atime, ctime
    }
    out.extend_from_slice(&size.to_be_bytes());
    out.push(CLASS as u8);
    out.push(0); // no properties
}

/// Writes an iPhone backup at `backup` (a new or empty folder) holding every file and
/// folder under `tree` in `spec.domain`, under its path relative to `tree`.
pub fn write_backup(tree: &Path, backup: &Path, spec: &BackupSpec) -> io::Result<BackupFacts> {
    if spec.mbdb {
        return write_mbdb_backup(tree, backup, spec);
    }
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    fs::create_dir_all(backup)?;
    let keys = spec.password.as_deref().map(|p| keys(spec, p, &mut rng));
    let class_key = |class: u32| -> Option<[u8; 32]> {
        keys.as_ref()?
            .classes
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, k)| *k)
    };
    let mut items = Vec::new();
    walk(tree, tree, &mut items)?;

    let manifest_plain_path = backup.join("Manifest.db.plain");
    let _ = fs::remove_file(&manifest_plain_path);
    let db = Connection::open(&manifest_plain_path).map_err(io::Error::other)?;
    db.execute_batch(
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
         CREATE INDEX FilesDomainIdx ON Files(domain);
         CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
         CREATE INDEX FilesFlagsIdx ON Files(flags);
         CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);
         BEGIN;",
    )
    .map_err(io::Error::other)?;
    let mut facts = BackupFacts::default();
    for (inode, (rel, path, is_dir)) in items.iter().enumerate() {
        let id = file_id(&spec.domain, rel);
        let inode = inode as u64 + 1000;
        if *is_dir {
            db.execute(
                "INSERT INTO Files VALUES (?1, ?2, ?3, 2, ?4)",
                params![id, spec.domain, rel, record(rel, 0, 0o40755, inode, None)],
            )
            .map_err(io::Error::other)?;
            continue;
        }
        let data = fs::read(path)?;
        let dir = backup.join(&id[..2]);
        fs::create_dir_all(&dir)?;
        let key = match class_key(CLASS) {
            Some(ck) => {
                let mut fk = [0u8; 32];
                rng.fill_bytes(&mut fk);
                fs::write(dir.join(&id), encrypt(&fk, &data))?;
                let mut wrapped = CLASS.to_le_bytes().to_vec();
                wrapped.extend_from_slice(&wrap(&ck, &fk));
                Some(wrapped)
            }
            None => {
                fs::write(dir.join(&id), &data)?;
                None
            }
        };
        let rec = record(rel, data.len() as u64, 0o100644, inode, key);
        db.execute(
            "INSERT INTO Files VALUES (?1, ?2, ?3, 1, ?4)",
            params![id, spec.domain, rel, rec],
        )
        .map_err(io::Error::other)?;
        facts.files.push((rel.clone(), id));
    }
    db.execute_batch("COMMIT;").map_err(io::Error::other)?;
    db.close().map_err(|(_, e)| io::Error::other(e))?;
    facts.manifest_plain = fs::read(&manifest_plain_path)?;
    fs::remove_file(&manifest_plain_path)?;

    let mut manifest = Dictionary::new();
    let mut manifest_key = None;
    match (&keys, class_key(CLASS)) {
        (Some(k), Some(ck)) => {
            let mut mk = [0u8; 32];
            rng.fill_bytes(&mut mk);
            fs::write(
                backup.join("Manifest.db"),
                encrypt(&mk, &facts.manifest_plain),
            )?;
            let mut wrapped = CLASS.to_le_bytes().to_vec();
            wrapped.extend_from_slice(&wrap(&ck, &mk));
            manifest_key = Some(wrapped);
            manifest.insert("BackupKeyBag".into(), Value::Data(k.keybag.clone()));
        }
        _ => fs::write(backup.join("Manifest.db"), &facts.manifest_plain)?,
    }
    if let Some(mk) = manifest_key {
        manifest.insert("ManifestKey".into(), Value::Data(mk));
    }
    write_plists(backup, spec, manifest, keys.is_some(), "10.0")?;
    Ok(facts)
}

/// [`write_backup`] in the format of iOS 9 and earlier: `Manifest.mbdb` and each file stored
/// flat as `<fileID>`.
fn write_mbdb_backup(tree: &Path, backup: &Path, spec: &BackupSpec) -> io::Result<BackupFacts> {
    if spec.password.is_some() {
        return Err(io::Error::other(
            "the generator writes older backups plain only",
        ));
    }
    fs::create_dir_all(backup)?;
    let mut items = Vec::new();
    walk(tree, tree, &mut items)?;
    let mut mbdb = b"mbdb\x05\x00".to_vec();
    let mut facts = BackupFacts::default();
    for (inode, (rel, path, is_dir)) in items.iter().enumerate() {
        let inode = inode as u64 + 1000;
        if *is_dir {
            mbdb_record(&mut mbdb, &spec.domain, rel, 0o40755, inode, 0);
            continue;
        }
        let data = fs::read(path)?;
        let id = file_id(&spec.domain, rel);
        fs::write(backup.join(&id), &data)?;
        mbdb_record(
            &mut mbdb,
            &spec.domain,
            rel,
            0o100644,
            inode,
            data.len() as u64,
        );
        facts.files.push((rel.clone(), id));
    }
    fs::write(backup.join("Manifest.mbdb"), mbdb)?;
    write_plists(backup, spec, Dictionary::new(), false, "9.1")?;
    Ok(facts)
}

/// `Manifest.plist` (`manifest` plus what every backup says), `Info.plist`, `Status.plist`.
fn write_plists(
    backup: &Path,
    spec: &BackupSpec,
    mut manifest: Dictionary,
    encrypted: bool,
    version: &str,
) -> io::Result<()> {
    let mut app = Dictionary::new();
    app.insert(
        "CFBundleIdentifier".into(),
        Value::String(spec.bundle.clone()),
    );
    app.insert("CFBundleVersion".into(), Value::String("8.0.50".into()));
    app.insert(
        "ContainerContentClass".into(),
        Value::String("Data/Application".into()),
    );
    let mut apps = Dictionary::new();
    apps.insert(spec.bundle.clone(), Value::Dictionary(app));
    manifest.insert("Applications".into(), Value::Dictionary(apps));
    manifest.insert("Version".into(), Value::String(version.into()));
    manifest.insert("SystemDomainsVersion".into(), Value::String("24.0".into()));
    manifest.insert("WasPasscodeSet".into(), Value::Boolean(true));
    manifest.insert("IsEncrypted".into(), Value::Boolean(encrypted));
    fs::write(backup.join("Manifest.plist"), plist_bytes(manifest)?)?;

    let mut info = Dictionary::new();
    info.insert("Device Name".into(), Value::String("Test iPhone".into()));
    info.insert("Product Type".into(), Value::String("iPhone14,2".into()));
    info.insert("Product Version".into(), Value::String("17.5".into()));
    info.insert(
        "Installed Applications".into(),
        Value::Array(vec![Value::String(spec.bundle.clone())]),
    );
    fs::write(backup.join("Info.plist"), plist_bytes(info)?)?;
    let mut status = Dictionary::new();
    status.insert("IsFullBackup".into(), Value::Boolean(false));
    status.insert("Version".into(), Value::String("3.3".into()));
    status.insert("BackupState".into(), Value::String("new".into()));
    status.insert("SnapshotState".into(), Value::String("finished".into()));
    fs::write(backup.join("Status.plist"), plist_bytes(status)?)?;
    Ok(())
}
