//! Starts the storage servers the tests use (Garage and rclone's WebDAV server, on
//! loopback, in DIR) and prints their locations and credentials as one JSON line; stops
//! them when standard input closes. For `bench/run.py --network`.
//!
//!     test-servers DIR

use std::io::{Read, Write};
use std::path::PathBuf;

use chatvault_fixtures::servers::{Garage, WebDav};

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: test-servers DIR");
        std::process::exit(2);
    };
    let garage = Garage::start(&dir.join("garage"), "chatvault");
    let dav = WebDav::start(&dir.join("dav"));
    let info = serde_json::json!({
        "s3": garage.location("bench"),
        "s3_key": garage.key_id,
        "s3_secret": garage.secret,
        "webdav": dav.location("bench"),
        "webdav_user": dav.user,
        "webdav_password": dav.password,
    });
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{info}");
    let _ = out.flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
