//! WebDAV storage (Nextcloud, ownCloud, Jianguoyun, Box, Koofr, rclone): objects are files
//! under a base collection, created as needed (MKCOL). A put uploads to a temporary name
//! (`.tmp-…`) in the same collection and then MOVEs it over the final name, so readers
//! never see part of an object even on servers whose PUT writes in place.

use std::fmt;

use base64::Engine as _;

use super::location::{bad, plain_http_allowed};
use super::{list_config, validate_name, Access, ObjectInfo, ObjectKind, Storage, StorageError};
use crate::net::http::{
    byte_range, content_length, error_text, ranged_body, read_body, Http, HttpOptions,
};

const TEMP_PREFIX: &str = ".tmp-";

/// Where a WebDAV repository is and how to log in.
#[derive(Clone)]
pub struct WebDavConfig {
    /// Base URL of the repository collection (`https://host/remote.php/dav/files/u/backup`).
    pub url: String,
    /// User name (empty: no authentication).
    pub user: String,
    /// Password or app token (never printed).
    pub password: String,
    /// Client settings.
    pub http: HttpOptions,
}

impl WebDavConfig {
    /// The settings of a `webdav+http(s)://[USER@]HOST/PATH` location (`url` is the part
    /// after `webdav+`), with the credentials of `access`. `text` names it in errors.
    pub(super) fn from_url(
        text: &str,
        url: &url::Url,
        access: &Access,
        http: HttpOptions,
    ) -> Result<WebDavConfig, StorageError> {
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "https" => {}
            "http" if plain_http_allowed(host, access) => {}
            "http" => {
                return Err(bad(
                    text,
                    "plain http sends your password unencrypted: use webdav+https, or allow http for a trusted network",
                ))
            }
            s => return Err(bad(text, format!("unknown scheme webdav+{s}"))),
        }
        if !url.password().unwrap_or("").is_empty() {
            return Err(bad(
                text,
                "put the password in the WebDAV credentials, not in the URL",
            ));
        }
        let mut clean = url.clone();
        let _ = clean.set_username("");
        let user = access
            .webdav_user
            .clone()
            .or_else(|| (!url.username().is_empty()).then(|| url.username().to_string()))
            .unwrap_or_default();
        Ok(WebDavConfig {
            url: clean.to_string(),
            user,
            password: access.webdav_password.clone().unwrap_or_default(),
            http,
        })
    }
}

impl fmt::Debug for WebDavConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebDavConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A repository in a WebDAV collection.
pub struct WebDavStorage {
    base: String,
    auth: Option<String>,
    http: Http,
    location: String,
    /// Collections known to exist. A PUT into a missing collection is refused before the
    /// server reads the body, which a client still sending megabytes sees as a broken
    /// pipe; so each collection is made (MKCOL) once before the first PUT into it.
    made: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl fmt::Debug for WebDavStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebDavStorage")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// One entry of a PROPFIND answer.
#[derive(Debug, Default, PartialEq)]
struct Entry {
    href: String,
    size: Option<u64>,
    collection: bool,
}

/// The entries of a `207 Multi-Status` answer (namespace prefixes ignored).
fn parse_multistatus(xml: &[u8]) -> Result<Vec<Entry>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut current: Option<Entry> = None;
    let mut field = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                match name.as_str() {
                    "response" => current = Some(Entry::default()),
                    "collection" => {
                        if let Some(c) = current.as_mut() {
                            c.collection = true;
                        }
                    }
                    _ => {}
                }
                field = name;
            }
            Ok(Event::Empty(e)) if e.local_name().as_ref() == b"collection" => {
                if let Some(c) = current.as_mut() {
                    c.collection = true;
                }
            }
            Ok(Event::Text(t)) => {
                let text = String::from_utf8_lossy(t.as_ref()).trim().to_string();
                if let Some(c) = current.as_mut() {
                    match field.as_str() {
                        "href" => c.href.push_str(&text),
                        "getcontentlength" => c.size = text.parse().ok(),
                        _ => {}
                    }
                }
            }
            Ok(Event::End(e)) => {
                if e.local_name().as_ref() == b"response" {
                    if let Some(c) = current.take() {
                        out.push(c);
                    }
                }
                field.clear();
            }
            Ok(Event::Eof) => break,
            Err(e) => return Err(e.to_string()),
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// The last path segment of an href (decoded; our names never need encoding).
fn last_segment(href: &str) -> String {
    let seg = href.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    percent_encoding::percent_decode_str(seg)
        .decode_utf8_lossy()
        .into_owned()
}

impl WebDavStorage {
    /// Storage in the collection at `config.url` (created on the first put).
    pub fn new(config: WebDavConfig) -> Result<Self, StorageError> {
        let base = format!("{}/", config.url.trim_end_matches('/'));
        let location = format!("webdav+{}", base.trim_end_matches('/'));
        let auth = (!config.user.is_empty()).then(|| {
            let raw = format!("{}:{}", config.user, config.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        });
        Ok(WebDavStorage {
            http: Http::new(&location, config.http)?,
            base,
            auth,
            location,
            made: Default::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: &str, url: &str) -> ureq::http::request::Builder {
        let mut b = ureq::http::Request::builder().method(method).uri(url);
        if let Some(a) = &self.auth {
            b = b.header("Authorization", a);
        }
        b
    }

    fn run(
        &self,
        op: &'static str,
        object: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, StorageError> {
        let sent = self.http.send(op, object, |agent| {
            let mut b = self.request(method, url);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let req = b
                .body(body)
                .map_err(|e| ureq::Error::BadUri(e.to_string()))?;
            agent.run(req)
        });
        Ok(sent?)
    }

    fn failure(&self, op: &'static str, object: &str, status: u16, body: &str) -> StorageError {
        match status {
            401 | 403 => StorageError::Denied {
                location: self.location.clone(),
                reason: format!(
                    "the user name or password is wrong or lacks rights (HTTP {status})"
                ),
            },
            507 => StorageError::backend(
                op,
                object,
                "the storage is full or over its quota (HTTP 507)",
            ),
            _ => {
                let text: String = body.chars().take(200).collect();
                StorageError::backend(op, object, format!("HTTP {status} {}", text.trim()))
            }
        }
    }

    /// Creates the collection `dir` (relative to the base, `/`-separated) and any missing
    /// parent, up to the server's root.
    fn make_collections(&self, dir: &str) -> Result<(), StorageError> {
        let url = format!("{}{}", self.base, dir.trim_matches('/'));
        self.mkcol(&format!("{}/", url.trim_end_matches('/')), 0)
    }

    fn mkcol(&self, url: &str, depth: usize) -> Result<(), StorageError> {
        let r = self.run("create", url, "MKCOL", url, &[], &[])?;
        match r.status().as_u16() {
            // Created, or already there.
            200 | 201 | 301 | 405 => Ok(()),
            // The parent is missing: create it, then this one.
            409 if depth < 32 => {
                let trimmed = url.trim_end_matches('/');
                let Some((parent, _)) = trimmed.rsplit_once('/') else {
                    return Err(StorageError::backend(
                        "create",
                        url,
                        "no parent collection to create",
                    ));
                };
                if parent.ends_with('/')
                    || !parent.contains("://")
                    || parent.matches('/').count() < 3
                {
                    return Err(StorageError::backend(
                        "create",
                        url,
                        "the server refuses to create it (HTTP 409): check the URL",
                    ));
                }
                self.mkcol(&format!("{parent}/"), depth + 1)?;
                let r = self.run("create", url, "MKCOL", url, &[], &[])?;
                match r.status().as_u16() {
                    200 | 201 | 301 | 405 => Ok(()),
                    s => Err(self.failure("create", url, s, &error_text(r))),
                }
            }
            s => Err(self.failure("create", url, s, &error_text(r))),
        }
    }

    fn propfind(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        let url = self.url(dir);
        let body = br#"<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/></prop></propfind>"#;
        let r = self.run(
            "list",
            &url,
            "PROPFIND",
            &url,
            &[("Depth", "1"), ("Content-Type", "application/xml")],
            body,
        )?;
        match r.status().as_u16() {
            207 => {
                let xml = read_body("list", &url, r)?;
                parse_multistatus(&xml).map_err(|e| {
                    StorageError::backend("list", &url, format!("unreadable listing: {e}"))
                })
            }
            404 => Ok(Vec::new()),
            s => Err(self.failure("list", &url, s, &error_text(r))),
        }
    }

    fn list_dir(
        &self,
        kind: ObjectKind,
        dir: &str,
        out: &mut Vec<ObjectInfo>,
    ) -> Result<(), StorageError> {
        for e in self.propfind(dir)? {
            let name = last_segment(&e.href);
            if e.collection || validate_name(kind, &name).is_err() {
                continue;
            }
            out.push(ObjectInfo {
                name,
                size: e.size.unwrap_or(0),
            });
        }
        Ok(())
    }
}

impl Storage for WebDavStorage {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn put(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<(), StorageError> {
        validate_name(kind, name)?;
        let path = kind.path_of(name);
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd)
            .map_err(|e| StorageError::backend("put", &path, e.to_string()))?;
        let temp_name = format!("{TEMP_PREFIX}{name}-{}", hex::encode(rnd));
        let temp = if dir.is_empty() {
            temp_name
        } else {
            format!("{dir}/{temp_name}")
        };
        let temp_url = self.url(&temp);
        let known = self.made.lock().map(|m| m.contains(dir)).unwrap_or(false);
        if !known {
            self.make_collections(dir)?;
            if let Ok(mut m) = self.made.lock() {
                m.insert(dir.to_string());
            }
        }
        let mut r = self.run("put", &path, "PUT", &temp_url, &[], data)?;
        if matches!(r.status().as_u16(), 404 | 409) {
            self.make_collections(dir)?;
            r = self.run("put", &path, "PUT", &temp_url, &[], data)?;
        }
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.failure("put", &path, status, &error_text(r)));
        }
        let dest = self.url(&path);
        let r = self.run(
            "put",
            &path,
            "MOVE",
            &temp_url,
            &[("Destination", dest.as_str()), ("Overwrite", "T")],
            &[],
        )?;
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            let err = self.failure("put", &path, status, &error_text(r));
            let _ = self.run("delete", &temp, "DELETE", &temp_url, &[], &[]);
            return Err(err);
        }
        Ok(())
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StorageError> {
        validate_name(kind, name)?;
        let path = kind.path_of(name);
        let url = self.url(&path);
        let r = self.run("get", &path, "GET", &url, &[], &[])?;
        match r.status().as_u16() {
            200 => Ok(read_body("get", &path, r)?),
            404 | 410 => Err(StorageError::not_found(kind, name)),
            s => Err(self.failure("get", &path, s, &error_text(r))),
        }
    }

    fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        validate_name(kind, name)?;
        let Some(range) = byte_range(offset, len) else {
            return Ok(Vec::new());
        };
        let path = kind.path_of(name);
        let url = self.url(&path);
        let r = self.run("get", &path, "GET", &url, &[("Range", range.as_str())], &[])?;
        match r.status().as_u16() {
            200 | 206 | 416 => Ok(ranged_body(&path, r, offset, len)?),
            404 | 410 => Err(StorageError::not_found(kind, name)),
            s => Err(self.failure("get", &path, s, &error_text(r))),
        }
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StorageError> {
        validate_name(kind, name)?;
        let path = kind.path_of(name);
        let url = self.url(&path);
        let r = self.run("stat", &path, "HEAD", &url, &[], &[])?;
        match r.status().as_u16() {
            200 => Ok(Some(content_length(&r))),
            404 | 410 => Ok(None),
            s => Err(self.failure("stat", &path, s, "")),
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StorageError> {
        if kind == ObjectKind::Config {
            return list_config(self);
        }
        let mut out = Vec::new();
        match kind {
            ObjectKind::Pack => {
                for e in self.propfind("data/")? {
                    let sub = last_segment(&e.href);
                    if e.collection && sub.len() == 2 && validate_name(kind, &sub).is_ok() {
                        self.list_dir(kind, &format!("data/{sub}/"), &mut out)?;
                    }
                }
            }
            _ => self.list_dir(kind, &format!("{}/", kind.dir()), &mut out)?,
        }
        Ok(out)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StorageError> {
        validate_name(kind, name)?;
        let path = kind.path_of(name);
        let url = self.url(&path);
        let r = self.run("delete", &path, "DELETE", &url, &[], &[])?;
        match r.status().as_u16() {
            200..=299 | 404 | 410 => Ok(()),
            s => Err(self.failure("delete", &path, s, &error_text(r))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_answers_are_read_with_any_prefix() {
        let xml = br#"<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
 <d:response><d:href>/repo/data/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop></d:propstat></d:response>
 <d:response><d:href>/repo/data/ab/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop></d:propstat></d:response>
 <d:response><d:href>/repo/keys/0a1b</d:href><d:propstat><d:prop><d:resourcetype/><d:getcontentlength>417</d:getcontentlength></d:prop></d:propstat></d:response>
</d:multistatus>"#;
        let e = parse_multistatus(xml).unwrap();
        assert_eq!(e.len(), 3);
        assert!(e[0].collection && e[1].collection && !e[2].collection);
        assert_eq!(e[2].size, Some(417));
        assert_eq!(last_segment(&e[1].href), "ab");
        assert_eq!(last_segment(&e[2].href), "0a1b");
        let plain = br#"<multistatus xmlns="DAV:"><response><href>/x/y%20z</href><propstat><prop><getcontentlength>3</getcontentlength><resourcetype></resourcetype></prop></propstat></response></multistatus>"#;
        let e = parse_multistatus(plain).unwrap();
        assert_eq!(
            (
                last_segment(&e[0].href).as_str(),
                e[0].size,
                e[0].collection
            ),
            ("y z", Some(3), false)
        );
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        let s = WebDavStorage::new(WebDavConfig {
            url: "https://dav.example/backup/".into(),
            user: "u".into(),
            password: "hunter2".into(),
            http: HttpOptions::default(),
        })
        .unwrap();
        assert_eq!(s.location(), "webdav+https://dav.example/backup");
        assert!(!format!("{s:?}").contains("hunter2"));
        let e = s.failure("get", "x", 401, "");
        assert!(matches!(e, StorageError::Denied { .. }));
        assert!(!e.to_string().contains("hunter2"));
    }
}
