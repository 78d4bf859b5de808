//! Repository locations as people write them, and opening the storage they name:
//!
//! * a path (or `file:///path`): [`LocalStorage`];
//! * `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual]`: [`S3Storage`]
//!   (default endpoint AWS for the region; path style whenever an endpoint is given);
//! * `lan://HOST:PORT?pin=FINGERPRINT`: [`super::LanStorage`], a paired `chatvault serve`;
//! * `webdav+https://HOST/PATH` (and `webdav+http://` only for loopback hosts, or with
//!   [`Access::allow_http`]): [`WebDavStorage`].
//!
//! Secrets never appear in a location: they come in an [`Access`] (from the phone's
//! keystore through the bindings, or from the environment on a PC).

use std::sync::Arc;

use super::s3::{S3Config, S3Storage};
use super::webdav::{WebDavConfig, WebDavStorage};
use super::{LocalStorage, Storage, StorageError};
use crate::net::http::HttpOptions;

/// Credentials and client settings for network locations.
#[derive(Clone, Default)]
pub struct Access {
    /// S3 access key id.
    pub s3_access_key: Option<String>,
    /// S3 secret access key.
    pub s3_secret_key: Option<String>,
    /// WebDAV user name.
    pub webdav_user: Option<String>,
    /// WebDAV password or app token.
    pub webdav_password: Option<String>,
    /// PEM text of the CA certificate(s) of a self-hosted server.
    pub ca_pem: Option<Vec<u8>>,
    /// Allow plain `http://` to hosts other than this machine (a trusted LAN).
    pub allow_http: bool,
    /// This device's identity for `lan://` receivers (from the keystore on phones, from a
    /// 0600 file on PCs).
    pub lan_identity: Option<crate::net::identity::Identity>,
    /// How long to keep retrying a receiver that stopped answering before giving up
    /// (default 60 s).
    pub lan_retry_for: Option<std::time::Duration>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("s3_access_key", &self.s3_access_key)
            .field("webdav_user", &self.webdav_user)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// From the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `CHATVAULT_WEBDAV_USER`, `CHATVAULT_WEBDAV_PASSWORD`, `CHATVAULT_CA_FILE` (read
    /// here), `CHATVAULT_ALLOW_HTTP=1`, `CHATVAULT_LAN_RETRY_SECONDS`.
    pub fn from_env() -> Result<Access, StorageError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let ca_pem = match var("CHATVAULT_CA_FILE") {
            Some(path) => Some(std::fs::read(&path).map_err(|e| StorageError::Backend {
                op: "open",
                object: path.clone(),
                cause: Box::new(e),
            })?),
            None => None,
        };
        Ok(Access {
            s3_access_key: var("AWS_ACCESS_KEY_ID"),
            s3_secret_key: var("AWS_SECRET_ACCESS_KEY"),
            webdav_user: var("CHATVAULT_WEBDAV_USER"),
            webdav_password: var("CHATVAULT_WEBDAV_PASSWORD"),
            ca_pem,
            allow_http: var("CHATVAULT_ALLOW_HTTP").is_some_and(|v| v == "1" || v == "true"),
            lan_identity: None,
            lan_retry_for: var("CHATVAULT_LAN_RETRY_SECONDS")
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(std::time::Duration::from_secs_f64),
        })
    }
}

fn bad(location: &str, why: impl Into<String>) -> StorageError {
    StorageError::backend("open", location, why)
}

/// Whether `location` names a network backend (as opposed to a local path).
pub fn is_remote(location: &str) -> bool {
    location.starts_with("s3://")
        || location.starts_with("webdav+")
        || location.starts_with("lan://")
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The location of `folder` inside `location`: a sub-folder of a path, one more path
/// segment of a URL (before its query). `folder` must be a plain name.
pub fn join(location: &str, folder: &str) -> Result<String, StorageError> {
    if folder.is_empty() || folder.contains(['/', '\\', '?', '#', '%']) || folder.starts_with('.') {
        return Err(bad(
            location,
            format!("{folder:?} is not a plain folder name"),
        ));
    }
    if !is_remote(location) {
        let path = location.strip_prefix("file://").unwrap_or(location);
        return Ok(std::path::Path::new(path)
            .join(folder)
            .display()
            .to_string());
    }
    let (prefix, rest) = match location.strip_prefix("webdav+") {
        Some(rest) => ("webdav+", rest),
        None => ("", location),
    };
    let mut url = url::Url::parse(rest).map_err(|e| bad(location, format!("not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| bad(location, "this URL has no path"))?
        .pop_if_empty()
        .push(folder);
    Ok(format!("{prefix}{url}"))
}

/// Opens the storage at `location`.
pub fn open(location: &str, access: &Access) -> Result<Arc<dyn Storage>, StorageError> {
    let http = HttpOptions {
        ca_pem: access.ca_pem.clone(),
        ..HttpOptions::default()
    };
    if location.starts_with("lan://") {
        let (address, pin) =
            super::lan::parse_location(location).map_err(|e| bad(location, e.to_string()))?;
        let identity = access.lan_identity.clone().ok_or_else(|| {
            bad(
                location,
                "this device has no LAN identity yet: pair it with the receiver first",
            )
        })?;
        return Ok(Arc::new(super::LanStorage::new(super::LanConfig {
            address,
            pin,
            identity,
            http: super::HttpOptions {
                retry_for: access
                    .lan_retry_for
                    .unwrap_or(super::lan_http_options().retry_for),
                ..super::lan_http_options()
            },
        })?));
    }
    if let Some(rest) = location.strip_prefix("webdav+") {
        let url = url::Url::parse(rest).map_err(|e| bad(location, format!("not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host) || access.allow_http => {}
            "http" => {
                return Err(bad(
                    location,
                    "plain http sends your password unencrypted: use webdav+https, or allow http for a trusted network",
                ))
            }
            s => return Err(bad(location, format!("unknown scheme webdav+{s}"))),
        }
        if !url.password().unwrap_or("").is_empty() {
            return Err(bad(
                location,
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
        return Ok(Arc::new(WebDavStorage::new(WebDavConfig {
            url: clean.to_string(),
            user,
            password: access.webdav_password.clone().unwrap_or_default(),
            http,
        })?));
    }
    if location.starts_with("s3://") {
        let url =
            url::Url::parse(location).map_err(|e| bad(location, format!("not a URL: {e}")))?;
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad(location, "no bucket: write s3://BUCKET/PREFIX"))?
            .to_string();
        let prefix = url.path().trim_matches('/').to_string();
        let mut endpoint = None;
        let mut region = None;
        let mut style = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "endpoint" => endpoint = Some(v.into_owned()),
                "region" => region = Some(v.into_owned()),
                "style" => style = Some(v.into_owned()),
                other => return Err(bad(location, format!("unknown option {other:?}"))),
            }
        }
        let region = region.unwrap_or_else(|| "us-east-1".into());
        let path_style = match style.as_deref() {
            Some("path") => true,
            Some("virtual") => false,
            Some(s) => return Err(bad(location, format!("style {s:?}: path or virtual"))),
            None => endpoint.is_some(),
        };
        let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let ep = url::Url::parse(&endpoint)
            .map_err(|e| bad(location, format!("endpoint {endpoint:?}: {e}")))?;
        if ep.scheme() == "http"
            && !is_loopback(ep.host_str().unwrap_or_default())
            && !access.allow_http
        {
            return Err(bad(
                location,
                "plain http to a remote endpoint exposes your data and signatures: use https",
            ));
        }
        let (Some(access_key), Some(secret_key)) =
            (access.s3_access_key.clone(), access.s3_secret_key.clone())
        else {
            return Err(StorageError::Denied {
                location: location.to_string(),
                reason: "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            });
        };
        return Ok(Arc::new(S3Storage::new(S3Config {
            endpoint,
            region,
            bucket,
            prefix,
            path_style,
            access_key,
            secret_key,
            http,
        })?));
    }
    let path = location.strip_prefix("file://").unwrap_or(location);
    if path.contains("://") {
        return Err(bad(
            location,
            "unknown kind of location: use a path, s3://BUCKET/PREFIX or webdav+https://HOST/PATH",
        ));
    }
    Ok(Arc::new(LocalStorage::new(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joining_a_folder_keeps_the_query() {
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
        assert_eq!(
            open("/tmp/r", &Access::default()).unwrap().location(),
            "/tmp/r"
        );
        assert!(format!("{a:?}").find("secret").is_none());
    }
}
