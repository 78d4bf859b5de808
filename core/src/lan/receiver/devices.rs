//! The receiver's registry of paired devices (`DIR/.chatvault-receiver/devices.json`, 0600):
//! fingerprint → folder under DIR. `chatvault devices` edits it while `serve` runs; the
//! receiver re-reads it when it changes, so a revocation takes effect at the next request.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::lan::{private_file, Fingerprint, LanError};

/// A paired device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Its folder under the receiver's directory (its repository).
    pub folder: String,
    /// What the device called itself when pairing.
    pub label: String,
    /// Its certificate's fingerprint (hex).
    pub fingerprint: String,
    /// When it paired (Unix seconds).
    pub paired_at: i64,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    devices: Vec<Device>,
}

/// The registry file and what it held when last read.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    devices: Vec<Device>,
    modified: Option<SystemTime>,
}

impl Registry {
    /// Reads the registry of the receiver whose state folder is `state_dir` (empty if new).
    pub fn load(state_dir: &Path) -> Result<Self, LanError> {
        let mut r = Registry {
            path: state_dir.join("devices.json"),
            devices: Vec::new(),
            modified: None,
        };
        r.reload()?;
        Ok(r)
    }

    fn reload(&mut self) -> Result<(), LanError> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.devices.clear();
                self.modified = None;
                return Ok(());
            }
            Err(e) => return Err(LanError::io(&self.path, e)),
        };
        let file: File = serde_json::from_slice(&text).map_err(|e| LanError::Io {
            path: self.path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        self.devices = file.devices;
        self.modified = modified;
        Ok(())
    }

    /// Re-reads the file if another process changed it.
    pub fn refresh(&mut self) -> Result<(), LanError> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != self.modified {
            self.reload()?;
        }
        Ok(())
    }

    fn save(&mut self) -> Result<(), LanError> {
        let file = File {
            devices: self.devices.clone(),
        };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|e| LanError::Protocol(e.to_string()))?;
        private_file::write(&self.path, &json)?;
        self.modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        Ok(())
    }

    /// Every paired device.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The device with this certificate.
    pub fn find(&self, fingerprint: &Fingerprint) -> Option<&Device> {
        let hex = fingerprint.to_hex();
        self.devices.iter().find(|d| d.fingerprint == hex)
    }

    /// Registers a device (again: a known certificate keeps its folder). `taken` says
    /// whether a folder name is in use on disk by something else.
    pub fn register(
        &mut self,
        fingerprint: &Fingerprint,
        label: &str,
        taken: impl Fn(&str) -> bool,
    ) -> Result<Device, LanError> {
        self.refresh()?;
        if let Some(d) = self.find(fingerprint) {
            return Ok(d.clone());
        }
        let base = folder_name(label);
        let folder = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|f| !self.devices.iter().any(|d| &d.folder == f) && !taken(f))
            .unwrap_or(base);
        let device = Device {
            folder,
            label: label.chars().take(80).collect(),
            fingerprint: fingerprint.to_hex(),
            paired_at: chrono::Utc::now().timestamp(),
        };
        self.devices.push(device.clone());
        self.save()?;
        Ok(device)
    }

    /// Gives the device `which` (its folder or a fingerprint prefix) the folder `folder`,
    /// which must be a safe name: a new phone (or a phone reset since) reaches the
    /// repository an earlier one made, to restore from it or to go on backing up into it.
    /// Several devices may share a folder: the repository format allows concurrent writers.
    pub fn assign(&mut self, which: &str, folder: &str) -> Result<Option<Device>, LanError> {
        self.refresh()?;
        if folder_name(folder) != folder {
            return Err(LanError::BadAddress {
                text: folder.chars().take(80).collect(),
                reason: "not a device folder name (lower-case letters, digits, dashes)".into(),
            });
        }
        let Some(i) = self.position(which) else {
            return Ok(None);
        };
        self.devices[i].folder = folder.to_string();
        let device = self.devices[i].clone();
        self.save()?;
        Ok(Some(device))
    }

    fn position(&self, which: &str) -> Option<usize> {
        let needle: String = which
            .chars()
            .filter(|c| !matches!(c, ':' | '-'))
            .collect::<String>()
            .to_ascii_lowercase();
        self.devices.iter().position(|d| {
            d.folder == which || (needle.len() >= 8 && d.fingerprint.starts_with(&needle))
        })
    }

    /// Forgets the device whose folder is `which` or whose fingerprint starts with it
    /// (dashes and colons ignored). Its folder and backups stay.
    pub fn revoke(&mut self, which: &str) -> Result<Option<Device>, LanError> {
        self.refresh()?;
        let Some(i) = self.position(which) else {
            return Ok(None);
        };
        let removed = self.devices.remove(i);
        self.save()?;
        Ok(Some(removed))
    }
}

/// A safe folder name from what a device calls itself: lower-case letters, digits and
/// dashes, at most 40, never empty, never starting with a dot.
pub(crate) fn folder_name(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if matches!(c, '\'' | '\u{2019}') {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "device".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lan::Identity;

    #[test]
    fn folders_are_safe_and_unique_and_revocation_sticks() {
        assert_eq!(folder_name("Anna's Pixel 8"), "annas-pixel-8");
        assert_eq!(folder_name("Ben’s iPhone"), "bens-iphone");
        assert_eq!(folder_name("../../etc"), "etc");
        assert_eq!(folder_name("微信"), "device");
        assert_eq!(folder_name(".hidden"), "hidden");
        let dir = tempfile::tempdir().unwrap();
        let mut r = Registry::load(dir.path()).unwrap();
        let a = Identity::generate("a").unwrap().fingerprint();
        let b = Identity::generate("b").unwrap().fingerprint();
        let da = r.register(&a, "Pixel", |_| false).unwrap();
        let db = r.register(&b, "Pixel", |f| f == "pixel-2").unwrap();
        assert_eq!(da.folder, "pixel");
        assert_eq!(db.folder, "pixel-3");
        assert_eq!(r.register(&a, "Other", |_| false).unwrap().folder, "pixel");
        // Another process revokes; this one sees it on refresh.
        let mut other = Registry::load(dir.path()).unwrap();
        assert!(other.revoke(&a.short()).unwrap().is_some());
        std::thread::sleep(std::time::Duration::from_millis(20));
        r.refresh().unwrap();
        assert!(r.find(&a).is_none());
        assert!(r.find(&b).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("devices.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
