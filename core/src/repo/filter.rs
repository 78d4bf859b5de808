//! Which snapshots a command considers (`--host`, `--tag`, `--path`): `latest` is the newest
//! of them, and retention (`forget --keep-*`) touches only them.

use super::snapshot::Snapshot;

/// Snapshots from any of `hosts`, carrying every one of `tags`, whose paths include every
/// one of `paths`; an empty list sets no condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    /// Hosts (any of them).
    pub hosts: Vec<String>,
    /// Tags (all of them).
    pub tags: Vec<String>,
    /// Backed-up paths (all of them), as the snapshot records them.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    /// Whether it sets no condition.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.tags.is_empty() && self.paths.is_empty()
    }

    /// Whether `s` passes.
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.host))
            && self.tags.iter().all(|t| s.tags.contains(t))
            && self.paths.iter().all(|p| s.paths.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(n: u8, host: &str, tags: &[&str], paths: &[&str]) -> Snapshot {
        let mut s = Snapshot::for_test(n, chrono::Utc::now(), host, paths);
        s.tags = tags.iter().map(|t| t.to_string()).collect();
        s
    }

    #[test]
    fn hosts_tags_and_paths() {
        let a = snap(1, "phone", &["nightly", "wechat"], &["/x/wechat"]);
        let b = snap(2, "pc", &["nightly"], &["/x/wechat", "/y"]);
        let f = |hosts: &[&str], tags: &[&str], paths: &[&str]| SnapshotFilter {
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
        };
        assert!(SnapshotFilter::default().matches(&a) && SnapshotFilter::default().is_empty());
        assert!(
            f(&["phone", "tablet"], &[], &[]).matches(&a) && !f(&["phone"], &[], &[]).matches(&b)
        );
        assert!(f(&[], &["nightly", "wechat"], &[]).matches(&a));
        assert!(
            !f(&[], &["nightly", "wechat"], &[]).matches(&b),
            "every tag"
        );
        assert!(f(&[], &[], &["/x/wechat"]).matches(&b) && !f(&[], &[], &["/y"]).matches(&a));
    }
}
