// What a foreign storage backend holds and lists (included by mod.rs).

/// The kinds of repository objects a foreign [`crate::Storage`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ObjectKind {
    /// `config`.
    Config,
    /// `keys/`.
    Key,
    /// `snapshots/`.
    Snapshot,
    /// `index/`.
    Index,
    /// `data/xx/`.
    Pack,
    /// `locks/`.
    Lock,
}

impl From<core::storage::ObjectKind> for ObjectKind {
    fn from(k: core::storage::ObjectKind) -> Self {
        use core::storage::ObjectKind as K;
        match k {
            K::Config => ObjectKind::Config,
            K::Key => ObjectKind::Key,
            K::Snapshot => ObjectKind::Snapshot,
            K::Index => ObjectKind::Index,
            K::Pack => ObjectKind::Pack,
            K::Lock => ObjectKind::Lock,
        }
    }
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ObjectEntry {
    /// Name (without directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}
