//! S3-compatible object storage (AWS, Backblaze B2, Cloudflare R2, Wasabi, MinIO, Garage,
//! Tencent COS, Alibaba OSS): objects under `<prefix>/<kind path>` in one bucket. Requests
//! are signed with AWS Signature V4 by `rusty-s3` (query-string presigning, so one signed
//! URL serves every attempt of a retried request) and sent by the shared [`Http`] client.
//!
//! S3 writes a whole object or nothing, so `put` is atomic as the contract requires.

use std::time::Duration;

use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use super::location::{bad, plain_http_allowed};
use super::{validate_name, Access, ObjectInfo, ObjectKind, Storage, StorageError};
use crate::net::http::{
    byte_range, content_length, error_text, ranged_body, read_body, Http, HttpOptions,
};

/// Signed URLs are valid this long (covers the retries of one request).
const SIGNED_FOR: Duration = Duration::from_secs(3600);

/// Where an S3 repository is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Endpoint, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:3900`.
    pub endpoint: String,
    /// Region name (`garage` for Garage, `auto` for R2, …).
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Key prefix inside the bucket (may be empty).
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual hosts
    /// (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Access key id.
    pub access_key: String,
    /// Secret access key (never printed).
    pub secret_key: String,
    /// Client settings.
    pub http: HttpOptions,
}

impl S3Config {
    /// The settings an `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual]`
    /// location gives, with the credentials of `access`. `text` names the location in errors.
    pub(super) fn from_url(
        text: &str,
        url: &url::Url,
        access: &Access,
        http: HttpOptions,
    ) -> Result<S3Config, StorageError> {
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad(text, "no bucket: write s3://BUCKET/PREFIX"))?
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
                other => return Err(bad(text, format!("unknown option {other:?}"))),
            }
        }
        let region = region.unwrap_or_else(|| "us-east-1".into());
        let path_style = match style.as_deref() {
            Some("path") => true,
            Some("virtual") => false,
            Some(s) => return Err(bad(text, format!("style {s:?}: path or virtual"))),
            None => endpoint.is_some(),
        };
        let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let ep = url::Url::parse(&endpoint)
            .map_err(|e| bad(text, format!("endpoint {endpoint:?}: {e}")))?;
        if ep.scheme() == "http" && !plain_http_allowed(ep.host_str().unwrap_or_default(), access) {
            return Err(bad(
                text,
                "plain http to a remote endpoint exposes your data and signatures: use https",
            ));
        }
        let (Some(access_key), Some(secret_key)) =
            (access.s3_access_key.clone(), access.s3_secret_key.clone())
        else {
            return Err(StorageError::Denied {
                location: text.to_string(),
                reason: "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            });
        };
        Ok(S3Config {
            endpoint,
            region,
            bucket,
            prefix,
            path_style,
            access_key,
            secret_key,
            http,
        })
    }
}

/// A repository in an S3 bucket.
pub struct S3Storage {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    http: Http,
    location: String,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The value of `<tag>` in an S3 error document.
fn xml_field(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].to_string())
}

impl S3Storage {
    /// Storage in `config.bucket` under `config.prefix`. Nothing is sent until first use.
    pub fn new(config: S3Config) -> Result<Self, StorageError> {
        let location = if config.prefix.is_empty() {
            format!("s3://{}", config.bucket)
        } else {
            format!("s3://{}/{}", config.bucket, config.prefix.trim_matches('/'))
        };
        let endpoint = config.endpoint.parse().map_err(|e| {
            StorageError::backend(
                "open",
                &location,
                format!("endpoint {:?}: {e}", config.endpoint),
            )
        })?;
        let style = if config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            config.bucket.clone(),
            config.region.clone(),
        )
        .map_err(|e| {
            StorageError::backend(
                "open",
                &location,
                format!("bucket {:?}: {e}", config.bucket),
            )
        })?;
        Ok(S3Storage {
            bucket,
            credentials: Credentials::new(config.access_key, config.secret_key),
            prefix: config.prefix.trim_matches('/').to_string(),
            http: Http::new(&location, config.http)?,
            location,
        })
    }

    fn key(&self, kind: ObjectKind, name: &str) -> Result<String, StorageError> {
        validate_name(kind, name)?;
        Ok(self.prefixed(&kind.path_of(name)))
    }

    fn prefixed(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    /// Turns an unsuccessful answer into the error a person can act on.
    fn failure(&self, op: &'static str, key: &str, status: u16, body: &str) -> StorageError {
        let code = xml_field(body, "Code").unwrap_or_default();
        let message = xml_field(body, "Message").unwrap_or_default();
        let detail = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("{code}: {message}")
        };
        match code.as_str() {
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied"
            | "InvalidToken" | "ExpiredToken" => StorageError::Denied {
                location: self.location.clone(),
                reason: format!("the access key or secret is wrong or lacks rights ({detail})"),
            },
            "RequestTimeTooSkewed" => StorageError::Denied {
                location: self.location.clone(),
                reason: format!(
                    "this device's clock is too far off for the server; set the date and time ({detail})"
                ),
            },
            "NoSuchBucket" => StorageError::backend(
                op,
                &self.location,
                format!("the bucket {:?} does not exist ({detail})", self.bucket.name()),
            ),
            "QuotaExceeded" | "EntityTooLarge" | "StorageFull" => StorageError::backend(
                op,
                key,
                format!("the storage is full or over its quota ({detail})"),
            ),
            _ if status == 401 || status == 403 => StorageError::Denied {
                location: self.location.clone(),
                reason: format!("the access key or secret is wrong or lacks rights ({detail})"),
            },
            _ if status == 507 => StorageError::backend(op, key, format!("the storage is full ({detail})")),
            _ => StorageError::backend(op, key, detail),
        }
    }
}

impl Storage for S3Storage {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn put(&self, kind: ObjectKind, name: &str, data: &[u8]) -> Result<(), StorageError> {
        let key = self.key(kind, name)?;
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let r = self
            .http
            .send("put", &key, |a| a.put(url.as_str()).send(data))?;
        let status = r.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        Err(self.failure("put", &key, status, &error_text(r)))
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Result<Vec<u8>, StorageError> {
        let key = self.key(kind, name)?;
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let r = self
            .http
            .send("get", &key, |a| a.get(url.as_str()).call())?;
        match r.status().as_u16() {
            200 => Ok(read_body("get", &key, r)?),
            404 => {
                let body = error_text(r);
                if xml_field(&body, "Code").as_deref() == Some("NoSuchBucket") {
                    Err(self.failure("get", &key, 404, &body))
                } else {
                    Err(StorageError::not_found(kind, name))
                }
            }
            s => Err(self.failure("get", &key, s, &error_text(r))),
        }
    }

    fn get_range(
        &self,
        kind: ObjectKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let key = self.key(kind, name)?;
        let Some(range) = byte_range(offset, len) else {
            return Ok(Vec::new());
        };
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let r = self.http.send_ranged(&key, url.as_str(), &range)?;
        match r.status().as_u16() {
            200 | 206 | 416 => Ok(ranged_body(&key, r, offset, len)?),
            404 => Err(StorageError::not_found(kind, name)),
            s => Err(self.failure("get", &key, s, &error_text(r))),
        }
    }

    fn size(&self, kind: ObjectKind, name: &str) -> Result<Option<u64>, StorageError> {
        let key = self.key(kind, name)?;
        let url = self
            .bucket
            .head_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let r = self
            .http
            .send("stat", &key, |a| a.head(url.as_str()).call())?;
        match r.status().as_u16() {
            200 => Ok(Some(content_length(&r))),
            404 => Ok(None),
            s => {
                // A HEAD answer has no body: ask again with GET to learn why (a wrong key,
                // a skewed clock, a missing bucket each need a different fix).
                let url = self
                    .bucket
                    .get_object(Some(&self.credentials), &key)
                    .sign(SIGNED_FOR);
                let body = self
                    .http
                    .send("stat", &key, |a| {
                        a.get(url.as_str()).header("Range", "bytes=0-0").call()
                    })
                    .map(error_text)
                    .unwrap_or_default();
                if s == 404 || xml_field(&body, "Code").as_deref() == Some("NoSuchKey") {
                    return Ok(None);
                }
                Err(self.failure("stat", &key, s, &body))
            }
        }
    }

    fn list(&self, kind: ObjectKind) -> Result<Vec<ObjectInfo>, StorageError> {
        if kind == ObjectKind::Config {
            return Ok(self
                .size(kind, "config")?
                .map(|size| ObjectInfo {
                    name: "config".into(),
                    size,
                })
                .into_iter()
                .collect());
        }
        let prefix = self.prefixed(&format!("{}/", kind.dir()));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            action.with_prefix(prefix.as_str());
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let r = self
                .http
                .send("list", &prefix, |a| a.get(url.as_str()).call())?;
            let status = r.status().as_u16();
            if status != 200 {
                return Err(self.failure("list", &prefix, status, &error_text(r)));
            }
            let body = read_body("list", &prefix, r)?;
            let text = String::from_utf8_lossy(&body);
            let page = ListObjectsV2::parse_response(&text).map_err(|e| {
                StorageError::backend("list", &prefix, format!("unreadable listing: {e}"))
            })?;
            for c in page.contents {
                let name = c.key.rsplit('/').next().unwrap_or_default();
                if validate_name(kind, name).is_ok() {
                    out.push(ObjectInfo {
                        name: name.to_string(),
                        size: c.size.unwrap_or(0),
                    });
                }
            }
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    fn delete(&self, kind: ObjectKind, name: &str) -> Result<(), StorageError> {
        let key = self.key(kind, name)?;
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let r = self
            .http
            .send("delete", &key, |a| a.delete(url.as_str()).call())?;
        match r.status().as_u16() {
            200..=299 | 404 => Ok(()),
            s => Err(self.failure("delete", &key, s, &error_text(r))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_become_actionable_errors() {
        let s = S3Storage::new(S3Config {
            endpoint: "http://127.0.0.1:1".into(),
            region: "garage".into(),
            bucket: "b".into(),
            prefix: "/p/".into(),
            path_style: true,
            access_key: "k".into(),
            secret_key: "very secret".into(),
            http: HttpOptions::default(),
        })
        .unwrap();
        assert_eq!(s.location(), "s3://b/p");
        assert_eq!(s.key(ObjectKind::Pack, "ab12").unwrap(), "p/data/ab/ab12");
        let denied = s.failure(
            "get",
            "k",
            403,
            "<Error><Code>InvalidAccessKeyId</Code><Message>no</Message></Error>",
        );
        assert!(matches!(denied, StorageError::Denied { .. }), "{denied}");
        assert!(!denied.to_string().contains("very secret"));
        let skew = s.failure(
            "put",
            "k",
            403,
            "<Error><Code>RequestTimeTooSkewed</Code></Error>",
        );
        assert!(skew.to_string().contains("clock"), "{skew}");
        let bucket = s.failure("get", "k", 404, "<Error><Code>NoSuchBucket</Code></Error>");
        assert!(bucket.to_string().contains("does not exist"), "{bucket}");
        let full = s.failure("put", "k", 403, "<Error><Code>QuotaExceeded</Code></Error>");
        assert!(full.to_string().contains("quota"), "{full}");
        assert!(format!("{s:?}").find("very secret").is_none());
    }
}
