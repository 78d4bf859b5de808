//! WeChat Android media: where a message's file is. WeChat keeps an account's media in its
//! folder beside `EnMicroMsg.db` (`MicroMsg/<md5("mm"+uin)>/`) and, on newer versions,
//! in an external folder on the SD card (`…/tencent/MicroMsg/<sd-dir>/` or
//! `Android/data/com.tencent.mm/MicroMsg/<sd-dir>/`) named in the account folder's
//! `account.mapping`. Users back up both folders; the external one is looked for inside the
//! export's tree ([`external_folder`]). Every lookup tries the account folder first, then
//! the external one ([`Roots`]).
//!
//! Names WeChat uses, per wechat-dump and the files themselves:
//! * images: `image2/<h[0:2]>/<h[2:4]>/th_<h>` (thumbnail); the full-size image is the name
//!   in `ImgInfo2.bigImgPath`, else (older or migrated copies, e.g. `<name>_backup`, `<h>hd`)
//!   the largest file of that folder whose name holds `h` and is no thumbnail;
//! * stickers: `emoji/<groupId>/<md5>` (`EmojiInfo.groupId`), else `emoji/<md5>`, else any
//!   file named `<md5>` in a folder of `emoji/` (the first 1 KiB of many is AES-encrypted:
//!   they are backed up as they are);
//! * files: the path in `WxFileIndex3`/`WxFileIndex2`/`WxFileIndex` (`wcf://<rel>`, or an
//!   absolute phone path under `…/MicroMsg/`).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::sources::rel_path;

/// How deep below the export's root an external `MicroMsg` folder is looked for.
const EXTERNAL_DEPTH: usize = 7;

/// Folders of an account folder that hold media, never an external `MicroMsg` folder: not
/// walked when looking for one.
const MEDIA_DIRS: &[&str] = &[
    "image2",
    "voice2",
    "video",
    "emoji",
    "avatar",
    "sfs",
    "attachment",
    "Download",
    "record",
    "favorite",
    "sns",
    "music",
    "brandicon",
    "openapi",
    "appbrand",
    "diskcache",
];

/// One folder media may be in.
struct Root {
    dir: PathBuf,
    /// `dir` relative to the export's root, `/`-separated ("" for the root itself).
    rel: String,
}

/// The folders an account's media may be in: its own folder, then the external one.
pub(crate) struct Roots {
    roots: Vec<Root>,
    /// Files of `emoji/` (two levels) by name, built on first use: their model paths.
    emoji: OnceCell<HashMap<String, String>>,
}

/// Whether `rel` is a relative path that stays inside the folder it is joined to.
fn safe_rel(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

impl Roots {
    /// The account folder `userdir` and the `external` one, below the export's `root`.
    pub(crate) fn new(root: &Path, userdir: &Path, external: Option<&Path>) -> Self {
        let roots = std::iter::once(userdir)
            .chain(external)
            .map(|d| Root {
                dir: d.to_path_buf(),
                rel: rel_path(root, d),
            })
            .collect();
        Roots {
            roots,
            emoji: OnceCell::new(),
        }
    }

    fn model_path(root: &Root, rel: &str) -> String {
        if root.rel.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", root.rel)
        }
    }

    /// The model's path of the account's file `rel` (relative to an account folder) and
    /// whether it is present: in the first folder holding it, else named in the account's
    /// own folder.
    pub(crate) fn file(&self, rel: &str) -> (String, bool) {
        if safe_rel(rel) {
            for r in &self.roots {
                if r.dir.join(rel).is_file() {
                    return (Self::model_path(r, rel), true);
                }
            }
        }
        (Self::model_path(&self.roots[0], rel), false)
    }

    /// The full-size image of hash `h` in the folder `dir` (`image2/ab/cd`) when its name
    /// is not known (or not there): the largest file whose name holds `h` and that is not a
    /// thumbnail (`th_…`), in the first folder that has one.
    pub(crate) fn search_image(&self, dir: &str, h: &str) -> Option<String> {
        if !safe_rel(dir) || h.is_empty() {
            return None;
        }
        for r in &self.roots {
            let Ok(entries) = fs::read_dir(r.dir.join(dir)) else {
                continue;
            };
            let best = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    // The name first: a folder holds the images of many hashes, and only
                    // the few candidates are worth a `stat`.
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !name.contains(h) || name.starts_with("th_") {
                        return None;
                    }
                    let meta = e.metadata().ok()?;
                    (meta.is_file() && meta.len() > 0).then_some((meta.len(), name))
                })
                .max();
            if let Some((_, name)) = best {
                return Some(Self::model_path(r, &format!("{dir}/{name}")));
            }
        }
        None
    }

    /// A fingerprint of what the folder `dir` (relative to an account folder) holds in
    /// every root: each entry's name, size and whether it is a folder. Whether a message's
    /// file is found there ([`Roots::file`], [`Roots::search_image`]) depends on nothing
    /// else.
    pub(crate) fn listing(&self, dir: &str) -> u64 {
        let mut h = blake3::Hasher::new();
        for r in &self.roots {
            h.update(&[0xff]);
            let Ok(entries) = fs::read_dir(r.dir.join(dir)) else {
                continue;
            };
            let mut found: Vec<(std::ffi::OsString, u64, bool)> = entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let meta = e.metadata().ok();
                    let dir = meta.as_ref().is_some_and(|m| m.is_dir());
                    (e.file_name(), meta.map_or(u64::MAX, |m| m.len()), dir)
                })
                .collect();
            found.sort_unstable();
            for (name, len, dir) in found {
                let name = name.as_encoded_bytes();
                h.update(&(name.len() as u64).to_le_bytes())
                    .update(name)
                    .update(&len.to_le_bytes())
                    .update(&[u8::from(dir)]);
            }
        }
        u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap_or_default())
    }

    /// The sticker of `md5` (in `group`, `EmojiInfo.groupId`): its model path and whether
    /// it is present.
    pub(crate) fn sticker(&self, md5: &str, group: Option<&str>) -> (String, bool) {
        if let Some(g) = group.filter(|g| !g.is_empty() && safe_rel(g)) {
            let found = self.file(&format!("emoji/{g}/{md5}"));
            if found.1 {
                return found;
            }
        }
        let found = self.file(&format!("emoji/{md5}"));
        if found.1 {
            return found;
        }
        match self.emoji_index().get(md5) {
            Some(p) => (p.clone(), true),
            None => found,
        }
    }

    fn emoji_index(&self) -> &HashMap<String, String> {
        self.emoji.get_or_init(|| {
            let mut index = HashMap::new();
            for r in &self.roots {
                let emoji = r.dir.join("emoji");
                crate::sources::walk_files(&emoji, 1, &mut |name, _, path| {
                    index
                        .entry(name.to_string())
                        .or_insert_with(|| Self::model_path(r, &rel_path(&r.dir, path)));
                });
            }
            index
        })
    }

    /// The file a file index row names (`wcf://<rel>`, an absolute phone path, or a path
    /// relative to the account folder): its model path and whether it is present.
    pub(crate) fn indexed(&self, path: &str) -> (String, bool) {
        let path = path.trim();
        if let Some(rel) = path.strip_prefix("wcf://") {
            return self.file(rel.trim_start_matches('/'));
        }
        if !path.starts_with('/') {
            return self.file(path);
        }
        // An absolute path on the phone: what follows its last `/MicroMsg/`.
        let Some(pos) = path.rfind("/MicroMsg/") else {
            let name = path.rsplit('/').next().unwrap_or_default();
            return self.file(&format!("Download/{name}"));
        };
        let rest = &path[pos + "/MicroMsg/".len()..];
        // `<account folder>/<rel>`: one of ours.
        if let Some((first, rel)) = rest.split_once('/') {
            for r in &self.roots {
                if r.dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy() == first)
                {
                    return self.file(rel);
                }
            }
        }
        // `Download/<name>` and the like, directly under a `MicroMsg` folder.
        if safe_rel(rest) {
            for r in &self.roots {
                let Some(mm) = r.dir.parent() else { continue };
                let p = mm.join(rest);
                if p.is_file() {
                    let rel = r
                        .rel
                        .rsplit_once('/')
                        .map(|(parent, _)| format!("{parent}/{rest}"))
                        .unwrap_or_else(|| rest.to_string());
                    return (rel, true);
                }
            }
        }
        self.file(rest)
    }
}

/// The external `MicroMsg/<sd-dir>` folder of the account at `userdir`, inside the export
/// at `root`: `<sd-dir>` is named in `<userdir>/account.mapping`; without it, the only
/// other `MicroMsg/<32 hex>` folder that holds no `EnMicroMsg.db`, if there is exactly one.
pub(crate) fn external_folder(root: &Path, userdir: &Path) -> Option<PathBuf> {
    let mapping = fs::read(userdir.join("account.mapping"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 64 && safe_rel(s) && !s.contains('/'));
    let mut found = Vec::new();
    find_micromsg(root, 0, &mut |mm| {
        if let Some(name) = &mapping {
            let d = mm.join(name);
            if d.is_dir() && d != userdir {
                found.push(d);
            }
            return;
        }
        let Ok(entries) = fs::read_dir(mm) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if name.len() == 32
                && name.bytes().all(|b| b.is_ascii_hexdigit())
                && p.is_dir()
                && p != userdir
                && !p.join("EnMicroMsg.db").is_file()
            {
                found.push(p);
            }
        }
    });
    found.sort();
    found.dedup();
    if mapping.is_none() && found.len() != 1 {
        return None;
    }
    found.into_iter().next()
}

/// Calls `visit` with every folder named `MicroMsg` under `dir` (at most
/// [`EXTERNAL_DEPTH`] levels down), not walking into media or account folders.
fn find_micromsg(dir: &Path, level: usize, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut list: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    list.sort_by_key(|e| e.file_name());
    for e in list {
        let Ok(ft) = e.file_type() else { continue };
        if !ft.is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "MicroMsg" {
            visit(&e.path());
        } else if level < EXTERNAL_DEPTH
            && !MEDIA_DIRS.contains(&name.as_str())
            && !(name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            find_micromsg(&e.path(), level + 1, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_paths_and_hostile_names() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let user = root.join("MicroMsg/aaaa");
        let ext = root.join("sdcard/tencent/MicroMsg/bbbb");
        fs::create_dir_all(user.join("attachment")).unwrap();
        fs::create_dir_all(ext.join("Download")).unwrap();
        fs::write(ext.join("Download/a.pdf"), b"x").unwrap();
        fs::write(root.join("sdcard/tencent/MicroMsg/Download/b.pdf"), b"x")
            .or_else(|_| {
                fs::create_dir_all(root.join("sdcard/tencent/MicroMsg/Download"))?;
                fs::write(root.join("sdcard/tencent/MicroMsg/Download/b.pdf"), b"x")
            })
            .unwrap();
        let r = Roots::new(root, &user, Some(&ext));
        assert_eq!(
            r.indexed("wcf://Download/a.pdf"),
            ("sdcard/tencent/MicroMsg/bbbb/Download/a.pdf".into(), true)
        );
        assert_eq!(
            r.indexed("/storage/emulated/0/tencent/MicroMsg/bbbb/Download/a.pdf"),
            ("sdcard/tencent/MicroMsg/bbbb/Download/a.pdf".into(), true)
        );
        assert_eq!(
            r.indexed("/storage/emulated/0/tencent/MicroMsg/Download/b.pdf"),
            ("sdcard/tencent/MicroMsg/Download/b.pdf".into(), true)
        );
        for bad in [
            "wcf://../../etc/passwd",
            "/x/MicroMsg/../../etc/passwd",
            "",
            "/",
        ] {
            assert!(!r.indexed(bad).1, "{bad}");
        }
        assert!(!r.sticker("../x", Some("..")).1);
    }
}
