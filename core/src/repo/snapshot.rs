//! Snapshots: the commit point of a backup, written last.
//!
//! ```text
//! snapshot object = sealed(aad "chatvault:snapshot", JSON), named BLAKE3(object)
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::crypto::Cipher;
use super::id::Id;
use crate::error::{Error, Result};

const AAD: &[u8] = b"chatvault:snapshot";

/// What was backed up, as the caller describes it (the sources layer fills in chat apps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Kind of source: "folder", or a chat export kind such as "wechat-android".
    pub kind: String,
    /// Free-form description.
    #[serde(default)]
    pub description: String,
}

/// What a layer above the repository records with a snapshot (the chat layer: the summary
/// of a chat app's data), kept as its JSON text and parsed only when read typed
/// ([`ExtraMeta::read`]). As text it takes a fifth of the memory a parsed JSON tree
/// would: a summary of 3,600 conversations is about 0.9 MB of text, 5 MiB as a tree.
///
/// A listing of snapshots ([`crate::repo::Repository::snapshots`]) leaves the text out,
/// so that listing a year of nightly snapshots holds no year of summaries:
/// [`crate::repo::Repository::full_snapshot`] reads it back. A left-out text reads as
/// none, and a snapshot without it cannot be stored.
#[derive(Debug, Clone)]
pub struct ExtraMeta(Option<Box<RawValue>>);

impl ExtraMeta {
    /// `value` as metadata.
    pub fn of<T: Serialize>(value: &T) -> Result<ExtraMeta> {
        serde_json::value::to_raw_value(value)
            .map(|raw| ExtraMeta(Some(raw)))
            .map_err(|e| Error::internal_from("encode a snapshot's metadata", e))
    }

    /// The metadata as the layer that wrote it reads it; `None` if it is not a `T`, or a
    /// listing left it out.
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        debug_assert!(
            self.0.is_some(),
            "a listed snapshot's metadata was read: read the snapshot in full first"
        );
        serde_json::from_str(self.0.as_ref()?.get()).ok()
    }

    /// Whether a listing left the text out.
    pub fn left_out(&self) -> bool {
        self.0.is_none()
    }
}

impl PartialEq for ExtraMeta {
    fn eq(&self, other: &ExtraMeta) -> bool {
        // Two left-out texts are two listings' marks of the same kind; a left-out text
        // equals no text but itself.
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => a.get() == b.get(),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Serialize for ExtraMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.0 {
            Some(raw) => raw.serialize(s),
            None => Err(serde::ser::Error::custom(
                "the snapshot's metadata was left out by a listing",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ExtraMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(|raw| ExtraMeta(Some(raw)))
    }
}

/// Totals recorded with a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Sum of file sizes.
    pub bytes: u64,
    /// Files read (new or changed since the parent).
    pub files_read: u64,
    /// Blobs this backup added to the repository.
    pub blobs_added: u64,
    /// Plaintext bytes of those blobs.
    pub bytes_added: u64,
    /// Stored (compressed, sealed) bytes of those blobs.
    pub bytes_stored: u64,
    /// Files that could not be read and are missing from the snapshot.
    pub files_unreadable: u64,
    /// Wall time in seconds.
    pub duration_secs: f64,
}

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Object name; not serialized (it is the hash of the stored object).
    #[serde(skip)]
    pub id: Id,
    /// Format version of this object (1).
    pub version: u32,
    /// When the backup started.
    pub time: DateTime<Utc>,
    /// Device or host name.
    pub host: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The backed-up paths as given.
    pub paths: Vec<String>,
    /// Source description.
    #[serde(default)]
    pub source: SourceInfo,
    /// Root tree: one node per backed-up path.
    pub tree: Id,
    /// The snapshot used to skip unchanged files, if any.
    #[serde(default)]
    pub parent: Option<Id>,
    /// Totals.
    #[serde(default)]
    pub summary: SnapshotSummary,
    /// What a layer above the repository records about this snapshot (the chat layer: the
    /// summary of a chat app's data), opaque here: read it typed with [`Snapshot::extra`].
    /// Stored as `chat` (docs/FORMAT.md §7).
    #[serde(default, rename = "chat")]
    pub extra: Option<ExtraMeta>,
    /// A tree of that layer's own files, beside the backed-up paths (the chat index).
    /// Stored as `chat_index`.
    #[serde(
        default,
        rename = "chat_index",
        skip_serializing_if = "Option::is_none"
    )]
    pub extra_tree: Option<Id>,
    /// The snapshot this one is a copy of (in another repository), if it is a copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    /// Program that wrote it.
    #[serde(default)]
    pub program: String,
}

impl Snapshot {
    /// Every tree this snapshot references: the backed-up paths and the extra tree.
    pub fn roots(&self) -> Vec<Id> {
        std::iter::once(self.tree).chain(self.extra_tree).collect()
    }

    /// The [`Snapshot::extra`] metadata as the layer that wrote it reads it; `None` if there
    /// is none or it is not a `T`.
    pub fn extra<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        self.extra.as_ref().and_then(ExtraMeta::read)
    }

    /// Drops the [`Snapshot::extra`] text, keeping the mark that there is one (a listing).
    pub(crate) fn leave_extra_out(&mut self) {
        if let Some(meta) = self.extra.as_mut() {
            meta.0 = None;
        }
    }

    /// Seals the snapshot; returns the bytes and their id.
    pub(crate) fn encode(&self, cipher: &Cipher) -> Result<(Id, Vec<u8>)> {
        let json =
            serde_json::to_vec(self).map_err(|e| Error::internal_from("encode a snapshot", e))?;
        let sealed = cipher.seal(AAD, &json)?;
        Ok((Id::of_bytes(&sealed), sealed))
    }

    pub(crate) fn decode(name: &str, raw: &[u8], cipher: &Cipher) -> Result<Snapshot> {
        let object = format!("snapshots/{name}");
        let id = Id::of_bytes(raw);
        if id.to_hex() != name {
            return Err(Error::corrupt(
                object,
                "content does not match its name (the file was modified)",
            ));
        }
        let json = cipher
            .open(AAD, raw)
            .map_err(|_| Error::corrupt(&object, "authentication failed"))?;
        let mut s: Snapshot =
            serde_json::from_slice(&json).map_err(|e| Error::corrupt(&object, e.to_string()))?;
        if s.version != 1 {
            return Err(Error::UnsupportedVersion {
                found: s.version,
                supported: 1,
            });
        }
        s.id = id;
        Ok(s)
    }
}

#[cfg(test)]
impl Snapshot {
    /// A snapshot record for tests: id bytes all `n`, taken at `time` on `host` of `paths`,
    /// no tags, an empty tree.
    pub(crate) fn for_test(n: u8, time: DateTime<Utc>, host: &str, paths: &[&str]) -> Snapshot {
        Snapshot {
            id: Id([n; 32]),
            version: 1,
            time,
            host: host.into(),
            tags: Vec::new(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            source: Default::default(),
            tree: Id::default(),
            parent: None,
            summary: Default::default(),
            extra: None,
            extra_tree: None,
            original: None,
            program: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_snapshot_is_read_whole_on_demand_and_never_stored_without_its_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let repo = crate::repo::test_repo(dir.path());
        let mut s = Snapshot::for_test(1, Utc::now(), "phone", &["/export"]);
        let meta = serde_json::json!({"app": "wechat-android", "messages": 3});
        s.extra = Some(ExtraMeta::of(&meta).unwrap());
        s.id = repo.save_snapshot(&s).unwrap();

        let listed = repo.snapshots().unwrap().remove(0);
        assert!(listed.extra.as_ref().unwrap().left_out());
        let e = repo.save_snapshot(&listed).unwrap_err();
        assert!(e.to_string().contains("left out"), "{e}");
        assert_eq!(repo.snapshots().unwrap().len(), 1);

        let whole = repo.full_snapshot(&listed).unwrap();
        assert_eq!(whole, s);
        assert_eq!(whole.extra::<serde_json::Value>(), Some(meta));
        assert_eq!(repo.find_snapshot("latest").unwrap(), s);
    }
}
