//! Repository locations as people write them, parsed once into a [`Location`], and opening
//! the storage they name:
//!
//! * a path (or `file:///path`): [`LocalStorage`];
//! * `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual]`: [`S3Storage`]
//!   (default endpoint AWS for the region; path style whenever an endpoint is given);
//! * `lan://HOST:PORT?pin=FINGERPRINT`: [`super::LanStorage`], a paired `chatvault serve`;
//! * `webdav+https://HOST/PATH` (and `webdav+http://` only for loopback hosts, or with
//!   [`Access::allow_http`]): [`WebDavStorage`].
//!
//! Each backend reads its own settings from the URL (`S3Config::from_url`, …). Secrets never
//! appear in a location: they come in an [`Access`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use url::Url;

use super::lan::LanConfig;
use super::s3::{S3Config, S3Storage};
use super::webdav::{WebDavConfig, WebDavStorage};
use super::{Access, LanStorage, LocalStorage, Storage, StorageError};
use crate::net::http::HttpOptions;

/// Where a repository is: a folder here, or a network backend's URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A folder on this machine.
    Local(PathBuf),
    /// `s3://BUCKET[/PREFIX][?endpoint=…&region=…&style=…]`.
    S3(Url),
    /// `webdav+https://HOST/PATH`: the URL after `webdav+`.
    WebDav(Url),
    /// `lan://HOST:PORT?pin=FINGERPRINT`: a paired receiver.
    Lan(Url),
}

/// What a location that is not one says.
const KINDS: &str = "use a path, s3://BUCKET/PREFIX, webdav+https://HOST/PATH or \
                     lan://HOST:PORT?pin=… (from `chatvault pair`)";

pub(super) fn bad(location: &str, why: impl Into<String>) -> StorageError {
    StorageError::backend("open", location, why)
}

impl Location {
    /// Parses a location as people write it (see the module's list). The only place a
    /// location text is taken apart; backends read their settings from the URL.
    pub fn parse(text: &str) -> Result<Location, StorageError> {
        let url = |rest: &str| Url::parse(rest).map_err(|e| bad(text, format!("not a URL: {e}")));
        if text.starts_with("s3://") {
            return Ok(Location::S3(url(text)?));
        }
        if text.starts_with("lan://") {
            return Ok(Location::Lan(url(text)?));
        }
        if let Some(rest) = text.strip_prefix("webdav+") {
            let u = url(rest)?;
            return match u.scheme() {
                "https" | "http" => Ok(Location::WebDav(u)),
                s => Err(bad(text, format!("unknown scheme webdav+{s}"))),
            };
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.contains("://") {
            return Err(bad(text, format!("unknown kind of location: {KINDS}")));
        }
        if path.is_empty() {
            return Err(bad(text, format!("no location given: {KINDS}")));
        }
        Ok(Location::Local(PathBuf::from(path)))
    }

    /// A folder on this machine.
    pub fn local(path: impl Into<PathBuf>) -> Location {
        Location::Local(path.into())
    }

    /// Whether this names a network backend (as opposed to a folder here).
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Local(_))
    }

    /// The folder, for a local location.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            _ => None,
        }
    }

    /// The location of `folder` inside this one: a sub-folder of a path, one more path
    /// segment of a URL (before its query). `folder` must be a plain name.
    pub fn join(&self, folder: &str) -> Result<Location, StorageError> {
        if folder.is_empty()
            || folder.contains(['/', '\\', '?', '#', '%'])
            || folder.starts_with('.')
        {
            return Err(bad(
                &self.to_string(),
                format!("{folder:?} is not a plain folder name"),
            ));
        }
        let push = |u: &Url| -> Result<Url, StorageError> {
            let mut u = u.clone();
            u.path_segments_mut()
                .map_err(|_| bad(&self.to_string(), "this URL has no path"))?
                .pop_if_empty()
                .push(folder);
            Ok(u)
        };
        Ok(match self {
            Location::Local(p) => Location::Local(p.join(folder)),
            Location::S3(u) => Location::S3(push(u)?),
            Location::WebDav(u) => Location::WebDav(push(u)?),
            Location::Lan(u) => Location::Lan(push(u)?),
        })
    }

    /// Opens the storage here, with the credentials and settings of `access`.
    pub fn open(&self, access: &Access) -> Result<Arc<dyn Storage>, StorageError> {
        let http = HttpOptions {
            ca_pem: access.ca_pem.clone(),
            ..HttpOptions::default()
        };
        let text = self.to_string();
        Ok(match self {
            Location::Local(p) => Arc::new(LocalStorage::new(p)),
            Location::S3(u) => {
                Arc::new(S3Storage::new(S3Config::from_url(&text, u, access, http)?)?)
            }
            Location::WebDav(u) => Arc::new(WebDavStorage::new(WebDavConfig::from_url(
                &text, u, access, http,
            )?)?),
            Location::Lan(u) => Arc::new(LanStorage::new(LanConfig::from_url(&text, u, access)?)?),
        })
    }
}

impl fmt::Display for Location {
    /// The location as people write it (parses back to the same location).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3(u) | Location::Lan(u) => f.write_str(u.as_str()),
            Location::WebDav(u) => write!(f, "webdav+{u}"),
        }
    }
}

impl FromStr for Location {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Location::parse(s)
    }
}

/// Opens the storage at the location `text` (see [`Location::parse`]).
pub fn open(text: &str, access: &Access) -> Result<Arc<dyn Storage>, StorageError> {
    Location::parse(text)?.open(access)
}

/// Whether plain `http://` to `host` is allowed: this machine, or a network the user said
/// is trusted ([`Access::allow_http`]).
pub(super) fn plain_http_allowed(host: &str, access: &Access) -> bool {
    access.allow_http
        || host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_a_folder_keeps_the_query() {
        let join = |l: &str, f: &str| Location::parse(l)?.join(f).map(|l| l.to_string());
        assert_eq!(
            join(
                "s3://b/received?endpoint=http://127.0.0.1:3900&region=garage",
                "anna"
            )
            .unwrap(),
            "s3://b/received/anna?endpoint=http://127.0.0.1:3900&region=garage"
        );
        assert_eq!(
            join("s3://b?region=r", "anna").unwrap(),
            "s3://b/anna?region=r"
        );
        assert_eq!(
            join("webdav+https://h/dav/", "anna").unwrap(),
            "webdav+https://h/dav/anna"
        );
        assert_eq!(join("/srv/recv", "anna").unwrap(), "/srv/recv/anna");
        assert!(join("/srv/recv", "../x").is_err());
        assert!(join("s3://b/x", "a/b").is_err());
    }

    fn s3_access() -> Access {
        Access {
            s3_access_key: Some("GK1".into()),
            s3_secret_key: Some("secret".into()),
            ..Default::default()
        }
    }

    #[test]
    fn locations_open_the_right_backend_or_say_why_not() {
        let a = s3_access();
        let s = open(
            "s3://bucket/some/prefix?endpoint=http://127.0.0.1:3900&region=garage",
            &a,
        )
        .unwrap();
        assert_eq!(s.location(), "s3://bucket/some/prefix");
        assert!(
            open("s3://bucket?endpoint=http://example.com", &a).is_err(),
            "remote http"
        );
        assert!(open("s3://bucket?color=blue", &a).is_err());
        assert!(matches!(
            open("s3://bucket", &Access::default()),
            Err(StorageError::Denied { .. })
        ));
        let w = open("webdav+http://127.0.0.1:8080/dav/repo", &Access::default()).unwrap();
        assert_eq!(w.location(), "webdav+http://127.0.0.1:8080/dav/repo");
        assert!(open("webdav+http://nas.local/repo", &Access::default()).is_err());
        let allowed = Access {
            allow_http: true,
            ..Default::default()
        };
        assert!(open("webdav+http://nas.local/repo", &allowed).is_ok());
        assert!(open("webdav+https://u:pw@host/repo", &Access::default()).is_err());
        assert!(open("ftp://host/x", &Access::default()).is_err());
        assert!(open("webdav+ftp://host/x", &Access::default()).is_err());
        assert_eq!(
            open("/tmp/r", &Access::default()).unwrap().location(),
            "/tmp/r"
        );
        assert!(format!("{a:?}").find("secret").is_none());
    }

    #[test]
    fn a_location_prints_as_it_parses() {
        for text in [
            "/srv/repo",
            "relative/repo",
            "s3://bucket/p?endpoint=http://127.0.0.1:3900&region=garage",
            "webdav+https://host/dav/repo",
            "lan://192.168.1.5:7459?pin=ab12",
        ] {
            let l = Location::parse(text).unwrap();
            assert_eq!(l.to_string(), text);
            assert_eq!(Location::parse(&l.to_string()).unwrap(), l);
        }
        assert_eq!(
            Location::parse("file:///srv/repo").unwrap(),
            Location::local("/srv/repo")
        );
        assert!(!Location::parse("/srv/repo").unwrap().is_remote());
        assert!(Location::parse("lan://h:1?pin=x").unwrap().is_remote());
        assert!(Location::parse("").is_err());
    }
}
