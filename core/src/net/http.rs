//! The HTTP client the network backends share: TLS by rustls with the ring provider,
//! Mozilla's root certificates or a custom CA for self-hosted servers, timeouts, and
//! retries of transient failures (timeouts, refused or reset connections, 5xx, 429, S3's
//! SlowDown) with exponential backoff and jitter, bounded in attempts and in time.
//!
//! Synchronous on purpose: the engine's workers are threads, and a phone library needs no
//! async runtime to move a few packs at a time.

use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

/// How the client talks to a server.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// PEM text of the CA certificate(s) to trust instead of the public roots (a
    /// self-hosted server with its own CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for one whole request (a pack on a slow uplink needs minutes).
    pub request_timeout: Duration,
    /// Stop retrying a request after this long.
    pub retry_for: Duration,
    /// At most this many attempts per request.
    pub max_attempts: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            retry_for: Duration::from_secs(120),
            max_attempts: 8,
        }
    }
}

/// Why a request failed, in the terms the callers (storage backends, pairing) map to
/// their own errors.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server could not be reached (after retrying for a bounded time).
    #[error("{location} cannot be reached: {reason}")]
    Unreachable {
        /// Where.
        location: String,
        /// The last failure, the attempts made, and what usually causes it.
        reason: String,
    },
    /// The server is not the one expected (a pinned receiver presenting another identity).
    #[error("{location} refused access: {reason}")]
    Denied {
        /// Where.
        location: String,
        /// What to fix.
        reason: String,
    },
    /// The request failed for another reason.
    #[error("{op} {object}: {reason}")]
    Failed {
        /// Operation ("put", "get", "pair", …).
        op: &'static str,
        /// Object path or location.
        object: String,
        /// What went wrong.
        reason: String,
    },
}

impl HttpError {
    /// A failure with a message of its own.
    pub fn failed(op: &'static str, object: &str, reason: impl Into<String>) -> Self {
        HttpError::Failed {
            op,
            object: object.to_string(),
            reason: reason.into(),
        }
    }
}

/// A client with its retry policy.
#[derive(Debug)]
pub(crate) struct Http {
    agent: ureq::Agent,
    options: HttpOptions,
    /// Where the server is, for messages.
    location: String,
    /// A ChatVault receiver on the LAN (pinned TLS; messages speak of the local network).
    receiver: bool,
}

/// The first wait between attempts; doubles each time, with jitter, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(250);
const MAX_WAIT: Duration = Duration::from_secs(20);

/// Bodies read into memory are bounded (packs are a few MiB; nothing legitimate is larger).
pub(crate) const MAX_BODY: u64 = 1 << 30;

impl Http {
    pub fn new(location: &str, options: HttpOptions) -> Result<Self, HttpError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = &options.ca_pem {
            let certs: Vec<_> = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(HttpError::failed(
                    "open",
                    location,
                    "the CA file holds no PEM certificate",
                ));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = agent_config(&options, tls.build());
        Ok(Http {
            agent: config.into(),
            options,
            location: location.to_string(),
            receiver: false,
        })
    }

    /// A client for a ChatVault receiver: TLS by `tls` (pinned, with the phone's certificate).
    pub fn receiver(
        location: &str,
        options: HttpOptions,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Self {
        use ureq::unversioned::resolver::DefaultResolver;
        use ureq::unversioned::transport::{Connector, TcpConnector};
        let connector =
            TcpConnector::default().chain(super::tls::connector::PinnedTls { config: tls });
        let config = agent_config(&options, ureq::tls::TlsConfig::default());
        Http {
            agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
            options,
            location: location.to_string(),
            receiver: true,
        }
    }

    /// Sends a request built by `make` (called again for each attempt) and returns the
    /// final response, whatever its status; transport failures that outlast the retries
    /// become [`HttpError::Unreachable`].
    pub fn send(
        &self,
        op: &'static str,
        object: &str,
        mut make: impl FnMut(&ureq::Agent) -> Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, HttpError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = make(&self.agent);
            let transient = match &outcome {
                Ok(r) => transient_status(r.status().as_u16()),
                Err(e) => transient_error(e),
            };
            let wait = backoff(attempt);
            let give_up = !transient
                || attempt >= self.options.max_attempts
                || started.elapsed() + wait > self.options.retry_for;
            if give_up {
                return outcome.map_err(|e| {
                    if transient_error(&e) {
                        let hint = if self.receiver { LAN_HINT } else { "" };
                        HttpError::Unreachable {
                            location: self.location.clone(),
                            reason: format!(
                                "{e} ({attempt} attempts over {:.0} s){hint}",
                                started.elapsed().as_secs_f64()
                            ),
                        }
                    } else if let Some(got) = super::tls::pin_mismatch(&e.to_string()) {
                        HttpError::Denied {
                            location: self.location.clone(),
                            reason: format!(
                                "this is not the receiver paired with this device (it presents \
                                 identity {}); if the PC was reinstalled, pair again",
                                got.get(..16).unwrap_or(&got)
                            ),
                        }
                    } else if is_certificate_error(&e) {
                        HttpError::failed(
                            op,
                            object,
                            format!(
                                "{e}: the server's certificate is not trusted; for a self-hosted \
                                 server, give its CA certificate (CHATVAULT_CA_FILE, or \
                                 RemoteAccess.caPem in the app)"
                            ),
                        )
                    } else {
                        HttpError::failed(op, object, e.to_string())
                    }
                });
            }
            match &outcome {
                Ok(r) => log::info!(
                    "{op} {object}: server answered {}; retrying in {:.1} s",
                    r.status(),
                    wait.as_secs_f64()
                ),
                Err(e) => log::info!(
                    "{op} {object}: {e}; retrying in {:.1} s",
                    wait.as_secs_f64()
                ),
            }
            std::thread::sleep(wait);
        }
    }

    /// Sends a GET of `url` for the bytes in `range` (a [`byte_range`]) and returns the
    /// answer, whatever its status (see [`ranged_body`]).
    pub fn send_ranged(
        &self,
        object: &str,
        url: &str,
        range: &str,
    ) -> Result<Response<Body>, HttpError> {
        self.send("get", object, |a| a.get(url).header("range", range).call())
    }
}

/// What to check when a receiver cannot be reached.
const LAN_HINT: &str = ". Is `chatvault serve` running there, and are both devices on the same \
     network? Guest Wi-Fi and hotspots often keep devices apart, and a firewall on the PC may \
     block the port";

fn agent_config(options: &HttpOptions, tls: ureq::tls::TlsConfig) -> ureq::config::Config {
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(options.connect_timeout))
        .timeout_global(Some(options.request_timeout))
        .http_status_as_error(false)
        // WebDAV speaks MKCOL, PROPFIND and MOVE.
        .allow_non_standard_methods(true)
        .max_idle_connections_per_host(8)
        .user_agent(concat!("chatvault/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Reads a response body into memory (bounded).
pub(crate) fn read_body(
    op: &'static str,
    object: &str,
    mut r: Response<Body>,
) -> Result<Vec<u8>, HttpError> {
    r.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| HttpError::failed(op, object, format!("reading the answer: {e}")))
}

/// The bytes a ranged GET answered with (status 206, 200 or 416): a 206 holds them; a 200
/// (a server that ignores ranges) holds the whole object, cut here; a 416 means the object
/// is shorter than the range. Fails unless exactly `len` bytes came.
pub(crate) fn ranged_body(
    object: &str,
    r: Response<Body>,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, HttpError> {
    let data = match r.status().as_u16() {
        206 => read_body("get", object, r)?,
        200 => {
            let all = read_body("get", object, r)?;
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
            let end = usize::try_from(offset.saturating_add(len))
                .unwrap_or(usize::MAX)
                .min(all.len());
            all[start..end].to_vec()
        }
        _ => {
            return Err(HttpError::failed(
                "get",
                object,
                "the object is shorter than the range read",
            ))
        }
    };
    if data.len() as u64 != len {
        return Err(HttpError::failed(
            "get",
            object,
            format!("read {} bytes at {offset}, expected {len}", data.len()),
        ));
    }
    Ok(data)
}

/// The `Range` header asking for `len` bytes at `offset`; `None` when `len` is 0 (nothing to
/// ask for).
pub(crate) fn byte_range(offset: u64, len: u64) -> Option<String> {
    (len > 0).then(|| format!("bytes={offset}-{}", offset + len - 1))
}

/// The size a successful HEAD answer gives (its content-length), 0 when it gives none.
pub(crate) fn content_length(r: &Response<Body>) -> u64 {
    r.headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Reads an error response's text (short), for messages.
pub(crate) fn error_text(mut r: Response<Body>) -> String {
    r.body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default()
}

fn is_certificate_error(e: &ureq::Error) -> bool {
    let text = e.to_string();
    text.contains("certificate")
        || text.contains("UnknownIssuer")
        || super::tls::pin_mismatch(&text).is_some()
}

fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

fn transient_error(e: &ureq::Error) -> bool {
    // A certificate the client does not trust will not become trusted by retrying (it
    // may arrive as an I/O error from inside the TLS stream).
    if is_certificate_error(e) {
        return false;
    }
    matches!(
        e,
        ureq::Error::Timeout(_)
            | ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
    )
}

/// Exponential backoff with full jitter: a random wait up to 250 ms × 2^(attempt-1),
/// at most 20 s, at least a tenth of the cap.
fn backoff(attempt: u32) -> Duration {
    let cap = FIRST_WAIT
        .saturating_mul(1 << (attempt.saturating_sub(1)).min(16))
        .min(MAX_WAIT);
    let mut b = [0u8; 4];
    let r = if getrandom::fill(&mut b).is_ok() {
        u32::from_le_bytes(b)
    } else {
        u32::MAX / 2
    };
    let frac = f64::from(r) / f64::from(u32::MAX);
    cap.mul_f64(0.1 + 0.9 * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 1..40 {
            let w = backoff(attempt);
            let cap = FIRST_WAIT
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_WAIT);
            assert!(w <= cap && w >= cap / 10, "{attempt}: {w:?}");
        }
        assert!(backoff(30) <= MAX_WAIT);
    }

    #[test]
    fn which_answers_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(transient_status(s));
        }
        for s in [200, 206, 400, 401, 403, 404, 409, 412] {
            assert!(!transient_status(s));
        }
    }
}
