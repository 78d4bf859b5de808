//! The repository: format, keys, and the operations on it.

pub mod backup;
pub mod blob;
mod blob_marks;
pub mod browse;
pub mod buffers;
pub mod check;
pub mod chunker;
pub mod compression;
pub mod config;
pub mod copy;
pub mod crypto;
pub(crate) mod disk_table;
pub mod filter;
pub mod id;
mod id_set;
pub mod index;
pub mod kept;
pub mod keys;
pub mod lock;
pub mod pack;
mod patch;
pub mod prune;
pub mod restore;
pub mod retention;
mod rewrite;
mod seen;
pub mod snapshot;
pub mod stats;
pub mod tree;
mod writer;

use std::sync::Arc;

use blob::BlobCodec;
use config::RepoConfig;
use crypto::{Cipher, SecretKey};
use id::Id;
use index::{BlobLocation, Index, IndexedPack};
use keys::{KdfParams, KeySlotInfo, Secret};
use snapshot::Snapshot;
use tree::Tree;

use crate::error::{Error, Result};
use crate::storage::{ObjectKind, Storage, StorageError};

/// This machine's host name, as recorded in snapshots and locks.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A stored blob, as listed by [`Repository::blobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// The pack holding it.
    pub pack: Id,
    /// What it holds.
    pub kind: blob::BlobKind,
    /// Its id.
    pub id: Id,
    /// Offset of the sealed blob in the pack.
    pub offset: u32,
    /// Sealed length.
    pub length: u32,
    /// Plaintext length.
    pub raw_length: u32,
}

/// A snapshot file that cannot be read: its name (the snapshot's id) and why.
pub type DamagedSnapshot = (String, String);

/// Options for creating a repository.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Argon2id cost of the first password slot.
    pub kdf: KdfParams,
    /// Target pack size in bytes (default 8 MiB: small enough for phones' memory, large
    /// enough that cloud uploads are few).
    pub pack_size: u32,
    /// Also create a recovery-key slot and return the key.
    pub recovery_key: bool,
    /// Share chunking and blob ids with another repository, so snapshots copy between
    /// them without duplicating data ([`Repository::link_params`]).
    pub linked_to: Option<copy::LinkParams>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfParams::default(),
            pack_size: 8 * 1024 * 1024,
            recovery_key: false,
            linked_to: None,
        }
    }
}

/// An open (unlocked) repository. Cheap to share across threads by reference.
pub struct Repository {
    storage: Arc<dyn Storage>,
    config: RepoConfig,
    master: SecretKey,
    cipher: Cipher,
    codec: BlobCodec,
    slot: String,
    /// Where temporary files (the index's tables) go; the system's temporary folder if unset.
    work_dir: Option<std::path::PathBuf>,
    /// What this device keeps between runs ([`Repository::set_cache_dir`]).
    cache_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.storage.location())
            .field("id", &self.config.id)
            .finish()
    }
}

/// The machine's cores (2 if unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Threads that fetch and verify blobs in restore and check: one per core, at most four
/// (beyond that the storage, not the CPU, is the bound).
pub(crate) fn reading_threads() -> usize {
    cores().clamp(1, 4)
}

impl Repository {
    /// True if a repository exists in `storage`.
    pub fn exists(storage: &dyn Storage) -> Result<bool> {
        Ok(storage.size(ObjectKind::Config, "config")?.is_some())
    }

    /// Creates a repository protected by `password`. Returns it open, with the recovery key
    /// (to show the user once) when `options.recovery_key` is set.
    pub fn init(
        storage: Arc<dyn Storage>,
        password: &str,
        options: &InitOptions,
    ) -> Result<(Repository, Option<String>)> {
        if Self::exists(storage.as_ref())? {
            return Err(Error::RepositoryExists {
                location: storage.location(),
            });
        }
        let master = SecretKey::generate()?;
        let mut config = RepoConfig::new(options.pack_size)?;
        if let Some(link) = &options.linked_to {
            config.chunker = link.chunker;
            config.id_key = link.id_key.clone();
        }
        let slot = keys::add_password_slot(
            storage.as_ref(),
            &master,
            password,
            "initial password",
            options.kdf,
        )?;
        let recovery = if options.recovery_key {
            Some(
                keys::add_recovery_slot(storage.as_ref(), &master, "recovery key")?
                    .1
                    .display(),
            )
        } else {
            None
        };
        let cipher = Cipher::new(&master.derive("chatvault v1 object encryption"));
        // The config is written last: a repository exists once it has a config.
        storage.put(ObjectKind::Config, "config", &config.encode(&cipher)?)?;
        Ok((Self::assemble(storage, config, master, slot)?, recovery))
    }

    /// Opens a repository with a password or recovery key.
    pub fn open(storage: Arc<dyn Storage>, secret: &Secret) -> Result<Repository> {
        let raw = match storage.get(ObjectKind::Config, "config") {
            Ok(raw) => raw,
            Err(StorageError::NotFound { .. }) => {
                return Err(Error::RepositoryNotFound {
                    location: storage.location(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let (master, slot) = keys::unlock(storage.as_ref(), secret)?;
        let cipher = Cipher::new(&master.derive("chatvault v1 object encryption"));
        let config = RepoConfig::decode(&raw, &cipher)?;
        Self::assemble(storage, config, master, slot)
    }

    fn assemble(
        storage: Arc<dyn Storage>,
        config: RepoConfig,
        master: SecretKey,
        slot: String,
    ) -> Result<Repository> {
        let cipher = Cipher::new(&master.derive("chatvault v1 object encryption"));
        let codec = BlobCodec::new(
            cipher.clone(),
            config.id_key_bytes()?,
            config.compression_level,
        );
        Ok(Repository {
            storage,
            config,
            master,
            cipher,
            codec,
            slot,
            work_dir: None,
            cache_dir: None,
        })
    }

    /// Sets the folder for temporary files a command needs while it runs (the sorted index
    /// of every blob, a few tens of bytes per blob): the app's cache folder on a phone,
    /// where the system's temporary folder is not writable. Unset, the system's is used.
    pub fn set_work_dir(&mut self, dir: Option<std::path::PathBuf>) {
        self.work_dir = dir;
    }

    /// The folder for temporary files ([`Repository::set_work_dir`]).
    pub(crate) fn work_dir(&self) -> Option<&std::path::Path> {
        self.work_dir.as_deref()
    }

    /// Sets the folder this device keeps between runs (`~/.cache/chatvault` on a PC, the
    /// app's cache folder on a phone): each source's last chat index, so the next backup
    /// of it reads back from the repository only the index pages that changed instead of
    /// the whole index. Unset, nothing is kept. Its files are this user's alone; removing
    /// them only makes the next backup read more.
    pub fn set_cache_dir(&mut self, dir: Option<std::path::PathBuf>) {
        self.cache_dir = dir;
    }

    /// The cache folder ([`Repository::set_cache_dir`]).
    pub(crate) fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache_dir.as_deref()
    }

    /// The storage this repository lives in.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The decrypted configuration.
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    // ----- key management -----

    /// All key slots.
    pub fn keys(&self) -> Result<Vec<KeySlotInfo>> {
        keys::list(self.storage.as_ref(), &self.slot)
    }

    /// Adds a password slot. Returns its id.
    pub fn add_password(&self, password: &str, label: &str, kdf: KdfParams) -> Result<String> {
        keys::add_password_slot(self.storage.as_ref(), &self.master, password, label, kdf)
    }

    /// Replaces the slot this repository was opened with by a new password slot.
    pub fn change_password(&mut self, new_password: &str, kdf: KdfParams) -> Result<String> {
        let new = keys::add_password_slot(
            self.storage.as_ref(),
            &self.master,
            new_password,
            "password",
            kdf,
        )?;
        self.storage.delete(ObjectKind::Key, &self.slot)?;
        self.slot = new.clone();
        Ok(new)
    }

    /// Adds a recovery-key slot, removing any earlier recovery slot. Returns the printable
    /// key, which is not stored anywhere: show it to the user once.
    pub fn new_recovery_key(&self) -> Result<String> {
        let old: Vec<_> = self
            .keys()?
            .into_iter()
            .filter(|k| k.kind == keys::SlotKind::Recovery && !k.current)
            .collect();
        let (_, key) =
            keys::add_recovery_slot(self.storage.as_ref(), &self.master, "recovery key")?;
        for k in old {
            self.storage.delete(ObjectKind::Key, &k.id)?;
        }
        Ok(key.display())
    }

    /// Removes a key slot (by id or unique prefix). The slot in use and the last password
    /// slot cannot be removed.
    pub fn remove_key(&self, id_prefix: &str) -> Result<()> {
        let all = self.keys()?;
        let matches: Vec<_> = all.iter().filter(|k| k.id.starts_with(id_prefix)).collect();
        let k = match matches.as_slice() {
            [k] => *k,
            [] => {
                return Err(Error::InvalidArgument(format!(
                    "no key slot matches {id_prefix:?}"
                )))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "key slot prefix {id_prefix:?} is ambiguous"
                )))
            }
        };
        if k.current {
            return Err(Error::InvalidArgument(
                "refusing to remove the key slot in use; open with another key first".into(),
            ));
        }
        if k.kind == keys::SlotKind::Password
            && all
                .iter()
                .filter(|s| s.kind == keys::SlotKind::Password)
                .count()
                == 1
        {
            return Err(Error::InvalidArgument(
                "refusing to remove the last password slot".into(),
            ));
        }
        self.storage.delete(ObjectKind::Key, &k.id)?;
        Ok(())
    }

    // ----- snapshots -----

    /// All snapshots, oldest first. Unreadable snapshots are reported as errors.
    ///
    /// Listed without their [`Snapshot::extra`] text (the chat summary, up to a megabyte
    /// each): [`Repository::full_snapshot`] reads one back, and [`Repository::find_snapshot`]
    /// finds one whole.
    ///
    /// A damaged snapshot file is left out (with a warning in the log) so that every other
    /// snapshot stays listed, restorable and forgettable; [`Repository::damaged_snapshots`]
    /// names it.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>> {
        Ok(self.scan_snapshots()?.0)
    }

    /// Snapshot files that cannot be read (failed authentication or parsing), by file name,
    /// with why. `forget` removes them by id like any snapshot; `prune` refuses to run while
    /// one is there, since the data only it uses would be deleted.
    pub fn damaged_snapshots(&self) -> Result<Vec<DamagedSnapshot>> {
        Ok(self.scan_snapshots()?.1)
    }

    pub(crate) fn scan_snapshots(&self) -> Result<(Vec<Snapshot>, Vec<DamagedSnapshot>)> {
        let mut out = Vec::new();
        let mut damaged = Vec::new();
        for o in self.storage.list(ObjectKind::Snapshot)? {
            match self.load_snapshot(&o.name) {
                Ok(mut s) => {
                    s.leave_extra_out();
                    out.push(s)
                }
                Err(e @ Error::Corrupt { .. }) => {
                    log::warn!("{e}; the other snapshots are listed without it");
                    damaged.push((o.name, e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        Ok((out, damaged))
    }

    /// Removes the snapshots named by id or unique id prefix (readable or damaged). Names
    /// are checked first: nothing is removed when one matches no snapshot or several.
    /// Returns the ids removed (with `dry_run`, the ids that would be).
    pub fn forget_ids(&self, specs: &[String], dry_run: bool) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .storage
            .list(ObjectKind::Snapshot)?
            .into_iter()
            .map(|o| o.name)
            .collect();
        let mut chosen = Vec::new();
        for spec in specs {
            let l = spec.to_ascii_lowercase();
            let hits: Vec<&String> = names.iter().filter(|n| n.starts_with(&l)).collect();
            match hits.as_slice() {
                [n] if !l.is_empty() => chosen.push((*n).clone()),
                [] | [_] => return Err(Error::SnapshotNotFound(spec.clone())),
                _ => return Err(Error::AmbiguousSnapshot(spec.clone())),
            }
        }
        chosen.sort();
        chosen.dedup();
        if dry_run {
            return Ok(chosen);
        }
        for n in &chosen {
            self.storage.delete(ObjectKind::Snapshot, n)?;
        }
        Ok(chosen)
    }

    pub(crate) fn load_snapshot(&self, name: &str) -> Result<Snapshot> {
        let raw = self.storage.get(ObjectKind::Snapshot, name)?;
        Snapshot::decode(name, &raw, &self.cipher)
    }

    /// `snapshot` with its [`Snapshot::extra`] text, which a listing
    /// ([`Repository::snapshots`]) leaves out: read again when it was.
    pub fn full_snapshot(&self, snapshot: &Snapshot) -> Result<Snapshot> {
        match &snapshot.extra {
            Some(meta) if meta.left_out() => self.load_snapshot(&snapshot.id.to_hex()),
            _ => Ok(snapshot.clone()),
        }
    }

    /// Finds a snapshot by id, unique id prefix, or `latest`.
    pub fn find_snapshot(&self, spec: &str) -> Result<Snapshot> {
        self.find_snapshot_in(spec, &filter::SnapshotFilter::default())
    }

    /// Finds a snapshot by id or unique id prefix (which name one snapshot whatever
    /// `filter` says), or `latest`: the newest that `filter` lets through.
    pub fn find_snapshot_in(
        &self,
        spec: &str,
        filter: &filter::SnapshotFilter,
    ) -> Result<Snapshot> {
        if spec == "latest" {
            let latest = self
                .snapshots()?
                .into_iter()
                .rev()
                .find(|s| filter.matches(s))
                .ok_or_else(|| {
                    Error::SnapshotNotFound(if filter.is_empty() {
                        spec.into()
                    } else {
                        format!("{spec} (of the snapshots --host/--tag/--path select)")
                    })
                })?;
            return self.full_snapshot(&latest);
        }
        let spec_l = spec.to_ascii_lowercase();
        let names: Vec<String> = self
            .storage
            .list(ObjectKind::Snapshot)?
            .into_iter()
            .map(|o| o.name)
            .filter(|n| n.starts_with(&spec_l))
            .collect();
        match names.as_slice() {
            [n] if !spec.is_empty() => self.load_snapshot(n),
            [] | [_] => Err(Error::SnapshotNotFound(spec.into())),
            _ => Err(Error::AmbiguousSnapshot(spec.into())),
        }
    }

    pub(crate) fn save_snapshot(&self, snap: &Snapshot) -> Result<Id> {
        let (id, bytes) = snap.encode(&self.cipher)?;
        self.storage
            .put(ObjectKind::Snapshot, &id.to_hex(), &bytes)?;
        Ok(id)
    }

    /// Removes stale locks (a crashed process, a lock not refreshed for 30 minutes or dated
    /// 30 minutes ahead), or every lock with `all` (only when nothing else uses the
    /// repository). Returns how many were removed.
    pub fn remove_locks(&self, all: bool) -> Result<usize> {
        lock::remove(self.storage.as_ref(), all)
    }

    /// Deletes a snapshot object (its data stays until prune).
    pub fn delete_snapshot(&self, id: &Id) -> Result<()> {
        Ok(self.storage.delete(ObjectKind::Snapshot, &id.to_hex())?)
    }

    // ----- index and blobs -----

    /// Loads every index file. `adopt_orphans` also reads the headers of packs that no index
    /// lists (left by an interrupted backup) and indexes them, so their blobs are reused.
    pub(crate) fn load_index(&self, adopt_orphans: bool) -> Result<(Index, Vec<String>)> {
        let mut index = Index::builder(self.work_dir());
        let mut files = Vec::new();
        // Only packs that exist count: an entry whose pack is gone (a prune that ran while
        // a backup's lock was stale) must neither make a backup skip data it has to store
        // again, nor send a reader to a missing pack when another copy of the blob exists.
        let stored: std::collections::HashMap<Id, u64> = self
            .storage
            .list(ObjectKind::Pack)?
            .into_iter()
            .filter_map(|o| Id::from_hex(&o.name).map(|id| (id, o.size)))
            .collect();
        let mut dangling = 0;
        let mut damaged = 0;
        for o in self.storage.list(ObjectKind::Index)? {
            let raw = self.storage.get(ObjectKind::Index, &o.name)?;
            // A damaged index file is passed over: the packs it listed are found again
            // from their own headers below, so no snapshot loses its data.
            let packs = match index::decode(&o.name, &raw, &self.cipher) {
                Ok(p) => p,
                Err(e @ Error::Corrupt { .. }) => {
                    log::warn!("{e}; its packs are read from their headers instead (the next prune replaces it)");
                    damaged += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for p in packs {
                if !stored.contains_key(&p.id) {
                    dangling += 1;
                    continue;
                }
                index.add_pack(&p)?;
            }
            files.push(o.name);
        }
        if dangling > 0 {
            log::warn!("{dangling} indexed pack(s) no longer exist; their blobs will be stored again if needed");
        }
        if adopt_orphans || damaged > 0 {
            let mut adopted = Vec::new();
            for (id, size) in stored {
                if index.has_pack(&id) {
                    continue;
                }
                match self.read_pack_header(&id, size) {
                    Ok(entries) => {
                        let p = IndexedPack { id, size, entries };
                        index.add_pack(&p)?;
                        adopted.push(p);
                    }
                    Err(e) => log::warn!("ignoring unreadable unindexed pack: {e}"),
                }
            }
            // Readers keep what they found in memory; writers (who hold a lock) store it.
            if adopt_orphans && !adopted.is_empty() {
                log::info!(
                    "adopted {} pack(s) left by an interrupted backup",
                    adopted.len()
                );
                let bytes = index::encode(&adopted, &self.cipher)?;
                let name = Id::of_bytes(&bytes).to_hex();
                self.storage.put(ObjectKind::Index, &name, &bytes)?;
                files.push(name);
            }
        }
        Ok((index.finish()?, files))
    }

    /// Bytes stored in packs (cheap: a listing, no decryption).
    pub fn stored_bytes(&self) -> Result<u64> {
        Ok(self
            .storage
            .list(ObjectKind::Pack)?
            .iter()
            .map(|o| o.size)
            .sum())
    }

    /// Every stored blob and where it is, from the index (for inspection and tests).
    pub fn blobs(&self) -> Result<Vec<BlobInfo>> {
        let mut out = Vec::new();
        for o in self.storage.list(ObjectKind::Index)? {
            let raw = self.storage.get(ObjectKind::Index, &o.name)?;
            for p in index::decode(&o.name, &raw, &self.cipher)? {
                out.extend(p.entries.iter().map(|e| BlobInfo {
                    pack: p.id,
                    kind: e.kind,
                    id: e.id,
                    offset: e.offset,
                    length: e.length,
                    raw_length: e.raw_length,
                }));
            }
        }
        Ok(out)
    }

    /// Reads and authenticates a pack's header.
    pub(crate) fn read_pack_header(&self, pack: &Id, size: u64) -> Result<Vec<pack::PackEntry>> {
        let name = pack.to_hex();
        let guess = pack::header_guess(size);
        let mut tail = self
            .storage
            .get_range(ObjectKind::Pack, &name, size - guess, guess)?;
        if tail.len() >= 4 {
            let hlen = u32::from_le_bytes(
                tail[tail.len() - 4..]
                    .try_into()
                    .map_err(|_| Error::internal("tail"))?,
            ) as u64;
            if hlen + 4 > guess && hlen + 4 <= size {
                tail =
                    self.storage
                        .get_range(ObjectKind::Pack, &name, size - hlen - 4, hlen + 4)?;
            }
        }
        pack::parse_header(pack, size, &tail, &self.cipher)
    }

    /// Reads, authenticates and checks one blob.
    pub(crate) fn read_blob(&self, index: &Index, id: &Id) -> Result<Vec<u8>> {
        let (loc, sealed) = self.sealed_blob(index, id, "blob")?;
        self.open_blob(&loc, id, &sealed)
    }

    /// Where blob `id` (a `what`, for the error) is stored, and its sealed bytes.
    fn sealed_blob(&self, index: &Index, id: &Id, what: &str) -> Result<(BlobLocation, Vec<u8>)> {
        let loc = index.get(id)?.ok_or_else(|| {
            Error::corrupt(
                format!("{what} {}", id.to_hex()),
                "not in any pack listed by the index",
            )
        })?;
        let sealed = self.storage.get_range(
            ObjectKind::Pack,
            &loc.pack.to_hex(),
            loc.offset as u64,
            loc.length as u64,
        )?;
        Ok((loc, sealed))
    }

    /// [`Repository::open_blob`], appending the content to `out`.
    pub(crate) fn open_blob_append(
        &self,
        loc: &BlobLocation,
        id: &Id,
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.codec.open_append(
            loc.kind,
            id,
            sealed,
            loc.raw_length,
            &format!("pack data/{}", loc.pack.to_hex()),
            out,
        )
    }

    /// Opens a sealed blob found at `loc` (authenticated, decompressed, its id checked).
    pub(crate) fn open_blob(&self, loc: &BlobLocation, id: &Id, sealed: &[u8]) -> Result<Vec<u8>> {
        self.codec.open(
            loc.kind,
            id,
            sealed,
            loc.raw_length,
            &format!("pack data/{}", loc.pack.to_hex()),
        )
    }

    /// Loads a tree blob, parsed as it is decompressed ([`blob::BlobReader::json`]): a
    /// large folder's JSON is never whole in memory beside its nodes.
    pub(crate) fn read_tree(&self, index: &Index, id: &Id) -> Result<Tree> {
        self.open_tree(index, id)?.json()
    }

    /// A tree blob's JSON, read as it is decompressed: for its nodes one at a time
    /// ([`tree::NodeStream`]); [`blob::BlobReader::finish`] checks it whole.
    pub(crate) fn open_tree(&self, index: &Index, id: &Id) -> Result<blob::BlobReader> {
        let (loc, sealed) = self.sealed_blob(index, id, "tree")?;
        self.codec.open_reader(
            loc.kind,
            id,
            sealed,
            loc.raw_length,
            &format!("pack data/{}", loc.pack.to_hex()),
        )
    }

    /// Calls `f` with a file node's content ids in order, one list blob (at most
    /// [`tree::IDS_PER_LIST`] ids) at a time, so a multi-gigabyte file's ids are never all
    /// in memory at once.
    pub(crate) fn for_each_content(
        &self,
        index: &Index,
        node: &tree::Node,
        mut f: impl FnMut(&[Id]) -> Result<()>,
    ) -> Result<()> {
        if node.content_lists.is_empty() {
            return f(&node.content);
        }
        for l in &node.content_lists {
            let data = self.read_blob(index, l)?;
            let ids = tree::parse_list(&data).ok_or_else(|| {
                Error::corrupt(
                    format!("list {}", l.to_hex()),
                    "length is not a multiple of 32",
                )
            })?;
            f(&ids)?;
        }
        Ok(())
    }
}

/// A new repository in `dir/repo` with a quick key derivation, for tests.
#[cfg(test)]
pub(crate) fn test_repo(dir: &std::path::Path) -> Repository {
    let opts = InitOptions {
        kdf: KdfParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
        ..Default::default()
    };
    Repository::init(
        Arc::new(crate::storage::LocalStorage::new(dir.join("repo"))),
        "pw",
        &opts,
    )
    .unwrap()
    .0
}
