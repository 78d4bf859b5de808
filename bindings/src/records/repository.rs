// What a repository's operations take and give: snapshots, backup options and results,
// restore and check reports, sizes, key slots (included by mod.rs).

/// A snapshot.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SnapshotInfo {
    /// Full id (64 hex digits).
    pub id: String,
    /// Short id (8 hex digits), as users see it.
    pub short_id: String,
    /// Time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Device name.
    pub host: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Backed-up paths.
    pub paths: Vec<String>,
    /// Files.
    pub files: u64,
    /// Sum of file sizes.
    pub bytes: u64,
    /// Plaintext bytes this backup added.
    pub bytes_added: u64,
    /// Stored bytes this backup added.
    pub bytes_stored: u64,
    /// Wall time of the backup.
    pub duration_secs: f64,
    /// What was backed up: "folder", "wechat-android", "whatsapp", ...
    pub source_kind: String,
}

impl From<&core::Snapshot> for SnapshotInfo {
    fn from(s: &core::Snapshot) -> Self {
        SnapshotInfo {
            id: s.id.to_hex(),
            short_id: s.id.short(),
            time_ms: ms(s.time),
            host: s.host.clone(),
            tags: s.tags.clone(),
            paths: s.paths.clone(),
            files: s.summary.files,
            bytes: s.summary.bytes,
            bytes_added: s.summary.bytes_added,
            bytes_stored: s.summary.bytes_stored,
            duration_secs: s.summary.duration_secs,
            source_kind: s.source.kind.clone(),
        }
    }
}

/// An encrypted SQLite database in the source and its page size (WeChat: 1,024).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EncryptedDatabase {
    /// Path of the database file.
    pub path: String,
    /// Page size in bytes.
    pub page_size: u32,
}

/// Options for a backup.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackupOptions {
    /// Device name to record (default: the host name).
    #[uniffi(default = None)]
    pub host: Option<String>,
    /// Tags.
    #[uniffi(default = [])]
    pub tags: Vec<String>,
    /// Worker threads (0: one per core; phones may want 2).
    #[uniffi(default = 0)]
    pub threads: u32,
    /// Encrypted databases and their page sizes.
    #[uniffi(default = [])]
    pub encrypted_databases: Vec<EncryptedDatabase>,
    /// Leave out photos, videos and voice messages.
    #[uniffi(default = false)]
    pub exclude_media: bool,
}

impl From<BackupOptions> for core::BackupOptions {
    fn from(o: BackupOptions) -> Self {
        core::BackupOptions {
            host: o.host,
            tags: o.tags,
            threads: o.threads as usize,
            page_sizes: o
                .encrypted_databases
                .into_iter()
                .map(|d| (d.path.into(), d.page_size))
                .collect(),
            exclude_media: o.exclude_media,
            ..Default::default()
        }
    }
}

/// The result of a backup.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BackupResult {
    /// The new snapshot.
    pub snapshot: SnapshotInfo,
    /// Files that could not be read (left out of the snapshot).
    pub warnings: Vec<String>,
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RestoreSummary {
    /// Files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Bytes.
    pub bytes: u64,
    /// Files restored with parts that could not be read (zeros in their place) and folders
    /// that could not be read: the repository is damaged there. Empty when all is well.
    pub damaged: Vec<DamagedPath>,
}

/// A file or folder a restore could not read whole.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DamagedPath {
    /// The path in the snapshot.
    pub path: String,
    /// Bytes written as zeros (0 for a folder).
    pub unreadable_bytes: u64,
    /// A folder whose contents could not be listed (nothing under it was restored).
    pub folder: bool,
    /// The first damage found in it.
    pub reason: String,
}

impl From<core::RestoreSummary> for RestoreSummary {
    fn from(r: core::RestoreSummary) -> Self {
        RestoreSummary {
            files: r.files,
            dirs: r.dirs,
            bytes: r.bytes,
            damaged: r
                .damaged
                .into_iter()
                .map(|d| DamagedPath {
                    path: d.path,
                    unreadable_bytes: d.unreadable_bytes,
                    folder: d.folder,
                    reason: d.reason,
                })
                .collect(),
        }
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Packs indexed.
    pub packs: u64,
    /// Packs read back.
    pub packs_read: u64,
    /// Bytes read back.
    pub bytes_read: u64,
    /// Problems (empty: sound).
    pub errors: Vec<String>,
    /// Notices.
    pub warnings: Vec<String>,
}

impl From<core::CheckReport> for CheckReport {
    fn from(r: core::CheckReport) -> Self {
        CheckReport {
            snapshots: r.snapshots,
            packs: r.packs,
            packs_read: r.packs_read,
            bytes_read: r.bytes_read,
            errors: r.errors,
            warnings: r.warnings,
        }
    }
}

/// Repository sizes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RepoStats {
    /// Snapshots.
    pub snapshots: u64,
    /// Bytes stored.
    pub stored_bytes: u64,
    /// Bytes of the newest snapshot's files.
    pub latest_bytes: u64,
    /// Deduplication ratio.
    pub dedup_ratio: f64,
    /// Compression ratio.
    pub compression_ratio: f64,
}

impl From<core::RepoStats> for RepoStats {
    fn from(s: core::RepoStats) -> Self {
        RepoStats {
            snapshots: s.snapshots,
            stored_bytes: s.stored_bytes,
            latest_bytes: s.latest_bytes,
            dedup_ratio: s.dedup_ratio,
            compression_ratio: s.compression_ratio,
        }
    }
}

/// A key slot.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeySlot {
    /// Slot id.
    pub id: String,
    /// True for the recovery key's slot.
    pub is_recovery: bool,
    /// Label.
    pub label: String,
    /// Creating device.
    pub host: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// The slot this session opened with.
    pub current: bool,
}

impl From<core::KeySlotInfo> for KeySlot {
    fn from(k: core::KeySlotInfo) -> Self {
        KeySlot {
            id: k.id,
            is_recovery: k.kind == core::SlotKind::Recovery,
            label: k.label,
            host: k.host,
            created_ms: ms(k.created),
            current: k.current,
        }
    }
}
