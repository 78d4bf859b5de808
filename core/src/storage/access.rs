//! Credentials and client settings for network locations: they never appear in a location
//! text; they come from the phone's keystore through the bindings, or from the environment
//! on a PC.

use super::StorageError;

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
