//! The receiver's routes (`docs/PROTOCOL.md`): info and pairing for any certificate, the
//! storage API for registered ones.

use std::io::{self, BufReader, Read, Write};
use std::sync::Arc;

use serde::Serialize;

use super::http1::{self, Request};
use super::quota::{Refused, Upload};
use super::store::{DeviceStore, Fetched};
use super::{lock, ReceiverEvent, Shared};
use crate::lan::pairing::{
    self, CodeFinish, CodeReply, CodeStart, ErrorReply, PairedReply, SecretRequest,
};
use crate::lan::{Fingerprint, API};
use crate::storage::{validate_name, ObjectKind, StorageError};

/// Largest JSON body (pairing requests).
const MAX_JSON: u64 = 64 * 1024;

pub(crate) fn error_json(text: &str) -> Vec<u8> {
    serde_json::to_vec(&ErrorReply {
        error: text.to_string(),
    })
    .unwrap_or_default()
}

type Conn<S> = BufReader<S>;

/// Answers one request. Returns whether the connection may carry another.
pub(crate) fn handle<S: Read + Write>(
    shared: &Arc<Shared>,
    peer: &Fingerprint,
    req: &Request,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    if req.chunked {
        return refuse(
            conn,
            req,
            411,
            "send a content-length (chunked bodies are not accepted)",
        );
    }
    let Some(rest) = req.path.strip_prefix(API) else {
        return refuse_after_body(conn, req, 404, "no such endpoint");
    };
    match (req.method.as_str(), rest) {
        ("GET", "/info") => {
            skip_body(conn, req)?;
            let paired = lock(&shared.registry).find(peer).is_some();
            let body = serde_json::json!({
                "name": shared.options.name,
                "fingerprint": shared.fingerprint.to_hex(),
                "version": env!("CARGO_PKG_VERSION"),
                "paired": paired,
            });
            json(conn, req, 200, &body)
        }
        ("POST", "/pair/secret") => pair_secret(shared, peer, req, conn),
        ("POST", "/pair/code/start") => pair_code_start(shared, peer, req, conn),
        ("POST", "/pair/code/finish") => pair_code_finish(shared, peer, req, conn),
        (method, path) if path.starts_with("/objects/") => {
            let device = {
                let mut registry = lock(&shared.registry);
                if let Err(e) = registry.refresh() {
                    log::warn!("reading the device registry: {e}");
                }
                registry.find(peer).map(|d| d.folder.clone())
            };
            let Some(folder) = device else {
                return refuse_after_body(
                    conn,
                    req,
                    403,
                    "this device is not paired with this receiver: pair it first",
                );
            };
            if lock(&shared.seen).insert(folder.clone()) {
                (shared.events)(ReceiverEvent::Connected {
                    folder: folder.clone(),
                });
            }
            let storage = match shared.device_store(&folder) {
                Ok(s) => s,
                Err(e) => return storage_refusal(conn, req, &e),
            };
            objects(
                shared,
                &folder,
                &storage,
                method,
                &path["/objects/".len()..],
                req,
                conn,
            )
        }
        _ => refuse_after_body(conn, req, 404, "no such endpoint"),
    }
}

fn json<S: Read + Write, T: Serialize>(
    conn: &mut Conn<S>,
    req: &Request,
    status: u16,
    body: &T,
) -> io::Result<bool> {
    let body = serde_json::to_vec(body).map_err(io::Error::other)?;
    http1::respond(
        conn.get_mut(),
        status,
        Some("application/json"),
        &body,
        false,
        req.is_head(),
    )?;
    Ok(true)
}

/// Answers an error and closes (the body, if any, was not read).
fn refuse<S: Read + Write>(
    conn: &mut Conn<S>,
    req: &Request,
    status: u16,
    text: &str,
) -> io::Result<bool> {
    http1::respond(
        conn.get_mut(),
        status,
        Some("application/json"),
        &error_json(text),
        true,
        req.is_head(),
    )?;
    Ok(false)
}

/// Answers an error; keeps the connection when a small body could be skipped.
fn refuse_after_body<S: Read + Write>(
    conn: &mut Conn<S>,
    req: &Request,
    status: u16,
    text: &str,
) -> io::Result<bool> {
    if req.content_length.unwrap_or(0) > MAX_JSON {
        return refuse(conn, req, status, text);
    }
    skip_body(conn, req)?;
    http1::respond(
        conn.get_mut(),
        status,
        Some("application/json"),
        &error_json(text),
        false,
        req.is_head(),
    )?;
    Ok(true)
}

fn skip_body<S: Read>(conn: &mut Conn<S>, req: &Request) -> io::Result<()> {
    let n = req.content_length.unwrap_or(0);
    let copied = io::copy(&mut conn.by_ref().take(n), &mut io::sink())?;
    if copied != n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Reads a small JSON body; `Err` already answered.
fn read_json<S: Read + Write, T: for<'de> serde::Deserialize<'de>>(
    conn: &mut Conn<S>,
    req: &Request,
) -> io::Result<Result<T, bool>> {
    let n = req.content_length.unwrap_or(0);
    if n > MAX_JSON {
        return refuse(conn, req, 413, "pairing requests are small").map(Err);
    }
    let mut body = Vec::with_capacity(n as usize);
    conn.by_ref().take(n).read_to_end(&mut body)?;
    if body.len() as u64 != n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    match serde_json::from_slice(&body) {
        Ok(v) => Ok(Ok(v)),
        Err(_) => {
            http1::respond(
                conn.get_mut(),
                400,
                Some("application/json"),
                &error_json("not the expected JSON"),
                false,
                false,
            )?;
            Ok(Err(true))
        }
    }
}

/// Registers `peer` and tells the PC's user; answers the phone.
fn register<S: Read + Write>(
    shared: &Arc<Shared>,
    req: &Request,
    peer: &Fingerprint,
    label: &str,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let dir = shared.options.dir.clone();
    let registered = lock(&shared.registry).register(peer, label, |folder| {
        folder.starts_with('.') || dir.join(folder).exists()
    });
    let device = match registered {
        Ok(d) => d,
        Err(e) => {
            log::error!("registering a device: {e}");
            return refuse(conn, req, 500, "the receiver could not save the pairing");
        }
    };
    let (uri, code) = {
        let mut p = lock(&shared.pairing);
        p.renew();
        (p.uri(), p.code().to_string())
    };
    (shared.events)(ReceiverEvent::Paired {
        device: device.clone(),
    });
    (shared.events)(ReceiverEvent::NewPairing { uri, code });
    json(
        conn,
        req,
        200,
        &PairedReply {
            device: device.folder,
            receiver: shared.options.name.clone(),
        },
    )
}

fn pair_secret<S: Read + Write>(
    shared: &Arc<Shared>,
    peer: &Fingerprint,
    req: &Request,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let body: SecretRequest = match read_json(conn, req)? {
        Ok(b) => b,
        Err(keep) => return Ok(keep),
    };
    if !lock(&shared.pairing).secret_matches(&body.secret) {
        log::warn!("pairing refused: a wrong or used pairing secret");
        return refuse(
            conn,
            req,
            403,
            "this pairing code was already used or is wrong: scan the current QR code",
        );
    }
    register(shared, req, peer, &body.name, conn)
}

fn pair_code_start<S: Read + Write>(
    shared: &Arc<Shared>,
    peer: &Fingerprint,
    req: &Request,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let body: CodeStart = match read_json(conn, req)? {
        Ok(b) => b,
        Err(keep) => return Ok(keep),
    };
    let Ok(message) = pairing::unb64(&body.message) else {
        return refuse(conn, req, 400, "bad pairing message");
    };
    let (started, news) = {
        let mut p = lock(&shared.pairing);
        let r = p.start(peer, &body.name, &message);
        (r, p.lock_news())
    };
    if news {
        (shared.events)(ReceiverEvent::CodeLocked);
    }
    match started {
        Ok((reply, confirm)) => json(
            conn,
            req,
            200,
            &CodeReply {
                message: pairing::b64(&reply),
                confirm: pairing::b64(&confirm),
            },
        ),
        Err(refusal) => refuse(conn, req, refusal.0, &refusal.1),
    }
}

fn pair_code_finish<S: Read + Write>(
    shared: &Arc<Shared>,
    peer: &Fingerprint,
    req: &Request,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let body: CodeFinish = match read_json(conn, req)? {
        Ok(b) => b,
        Err(keep) => return Ok(keep),
    };
    let tag = pairing::unb64(&body.confirm).unwrap_or_default();
    let finished = lock(&shared.pairing).finish(peer, &tag);
    match finished {
        Ok(label) => register(shared, req, peer, &label, conn),
        Err(refusal) => refuse(conn, req, refusal.0, &refusal.1),
    }
}

fn kind_of(segment: &str) -> Option<ObjectKind> {
    Some(match segment {
        "config" => ObjectKind::Config,
        "keys" => ObjectKind::Key,
        "snapshots" => ObjectKind::Snapshot,
        "index" => ObjectKind::Index,
        "data" => ObjectKind::Pack,
        "locks" => ObjectKind::Lock,
        _ => return None,
    })
}

#[derive(Serialize)]
struct Listed {
    name: String,
    size: u64,
}

fn storage_refusal<S: Read + Write>(
    conn: &mut Conn<S>,
    req: &Request,
    e: &StorageError,
) -> io::Result<bool> {
    match e {
        StorageError::NotFound { .. } => refuse_after_body(conn, req, 404, "not found"),
        StorageError::InvalidName { .. } => {
            refuse_after_body(conn, req, 400, "invalid object name")
        }
        other => {
            log::error!("{other}");
            refuse(
                conn,
                req,
                500,
                "the receiver could not do that (see its log)",
            )
        }
    }
}

/// The storage API over a device's folder.
fn objects<S: Read + Write>(
    shared: &Arc<Shared>,
    folder: &str,
    storage: &DeviceStore,
    method: &str,
    path: &str,
    req: &Request,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let (segment, name) = path.split_once('/').unwrap_or((path, ""));
    let Some(kind) = kind_of(segment) else {
        return refuse_after_body(conn, req, 400, "unknown object kind");
    };
    if name.is_empty() {
        if method != "GET" {
            return refuse_after_body(conn, req, 405, "list with GET");
        }
        skip_body(conn, req)?;
        return match storage.storage().list(kind) {
            Ok(list) => {
                let out: Vec<Listed> = list
                    .into_iter()
                    .map(|o| Listed {
                        name: o.name,
                        size: o.size,
                    })
                    .collect();
                json(conn, req, 200, &out)
            }
            Err(e) => storage_refusal(conn, req, &e),
        };
    }
    if validate_name(kind, name).is_err() {
        return refuse_after_body(conn, req, 400, "invalid object name");
    }
    match method {
        "PUT" => put(shared, folder, storage, kind, name, req, conn),
        "GET" | "HEAD" => {
            skip_body(conn, req)?;
            get(storage, kind, name, req, method == "HEAD", conn)
        }
        "DELETE" => {
            skip_body(conn, req)?;
            let size = storage
                .storage()
                .size(kind, name)
                .ok()
                .flatten()
                .unwrap_or(0);
            match storage.storage().delete(kind, name) {
                Ok(()) => {
                    shared.quotas.deleted(folder, size);
                    http1::respond(conn.get_mut(), 200, None, b"", false, req.is_head())?;
                    Ok(true)
                }
                Err(e) => storage_refusal(conn, req, &e),
            }
        }
        _ => refuse_after_body(conn, req, 405, "method not allowed"),
    }
}

fn put<S: Read + Write>(
    shared: &Arc<Shared>,
    folder: &str,
    storage: &DeviceStore,
    kind: ObjectKind,
    name: &str,
    req: &Request,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let Some(len) = req.content_length else {
        return refuse(conn, req, 411, "send a content-length");
    };
    if len > shared.options.max_object_bytes {
        return refuse(
            conn,
            req,
            413,
            &format!(
                "objects up to {} bytes are accepted; this one has {len}",
                shared.options.max_object_bytes
            ),
        );
    }
    // Room for the whole declared length is reserved before the body is read, so uploads
    // in parallel cannot overshoot the quota together.
    let reservation = match shared.options.quota_bytes {
        None => None,
        Some(quota) => match shared.quotas.reserve(
            Upload {
                folder,
                object: &kind.path_of(name),
                len,
            },
            quota,
            shared.options.idle_timeout,
            || storage.storage().size(kind, name),
            || storage.usage(),
        ) {
            Ok(r) => Some(r),
            Err(Refused::Full { used, quota }) => {
                return refuse(
                    conn,
                    req,
                    507,
                    &format!(
                        "this device's space on the receiver is full ({used} of {quota} bytes used or being uploaded)"
                    ),
                )
            }
            Err(Refused::Busy) => {
                return refuse(
                    conn,
                    req,
                    503,
                    "this object is being uploaded on another connection; try again",
                )
            }
            Err(Refused::Storage(e)) => return storage_refusal(conn, req, &e),
        },
    };
    if req.expect_continue {
        http1::write_continue(conn.get_mut())?;
    }
    // The body streams to a temp file; an upload that ends early leaves nothing.
    let mut body = conn.by_ref().take(len);
    match storage.put(kind, name, &mut body, len) {
        Ok(()) => {
            if let Some(r) = reservation {
                r.settle(len);
            }
            http1::respond(conn.get_mut(), 200, None, b"", false, req.is_head())?;
            Ok(true)
        }
        Err(e) => {
            // The reservation is released (dropped) with the failure.
            drop(reservation);
            // The rest of the body, if any, is not read: answer (if the phone is still
            // there) and close.
            log::info!("upload of {} not stored: {e}", kind.path_of(name));
            if is_disk_full(&e) {
                refuse(conn, req, 507, "the receiver's disk is full")
            } else {
                refuse(conn, req, 500, "the object could not be stored")
            }
        }
    }
}

fn is_disk_full(e: &StorageError) -> bool {
    matches!(e, StorageError::Backend { cause, .. }
        if cause.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::StorageFull))
}

fn get<S: Read + Write>(
    storage: &DeviceStore,
    kind: ObjectKind,
    name: &str,
    req: &Request,
    head_only: bool,
    conn: &mut Conn<S>,
) -> io::Result<bool> {
    let (status, len, extra, mut data) = match storage.read(kind, name, req.range.as_deref()) {
        Ok(Fetched::NotFound) => {
            http1::respond(
                conn.get_mut(),
                404,
                Some("application/json"),
                &error_json("not found"),
                false,
                head_only,
            )?;
            return Ok(true);
        }
        Ok(Fetched::Unsatisfiable(size)) => {
            http1::write_head(
                conn.get_mut(),
                416,
                0,
                &[("content-range", format!("bytes */{size}"))],
                false,
            )?;
            conn.get_mut().flush()?;
            return Ok(true);
        }
        Ok(Fetched::Body {
            range: None,
            size,
            data,
        }) => (200, size, Vec::new(), data),
        Ok(Fetched::Body {
            range: Some((start, len)),
            size,
            data,
        }) => (
            206,
            len,
            vec![(
                "content-range",
                format!("bytes {start}-{}/{size}", start + len - 1),
            )],
            data,
        ),
        Err(e) => return storage_refusal(conn, req, &e),
    };
    let w = conn.get_mut();
    http1::write_head(w, status, len, &extra, false)?;
    if !head_only {
        let copied = io::copy(&mut data.as_mut().take(len), w)?;
        if copied != len {
            // The object shrank under us (prune); the length promised cannot be kept.
            return Ok(false);
        }
    }
    w.flush()?;
    Ok(true)
}
