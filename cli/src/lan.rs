//! Phone → PC over Wi-Fi from the command line: `serve` (the receiver), and `pair`,
//! `discover`, `devices` (the phone's side, for a PC standing in for a phone, and the
//! receiver's registry).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use chatvault_core::lan::receiver::{self, Receiver, ReceiverEvent, ReceiverOptions, Registry};
use chatvault_core::lan::{
    discovery, pair as pair_with, private_file, Identity, PairingMethod, PairingUri,
};

use crate::args::{Cli, DevicesArgs, PairArgs, ServeArgs};
use crate::context::data_dir;
use chatvault_core::storage::Location;

/// This machine's LAN identity (`$CHATVAULT_LAN_IDENTITY`, else `lan-identity.pem` in the
/// data directory), made when `create` and missing.
pub fn identity(create: bool) -> Result<Identity> {
    let path = match std::env::var_os("CHATVAULT_LAN_IDENTITY") {
        Some(p) => PathBuf::from(p),
        None => data_dir()?.join("lan-identity.pem"),
    };
    if !create && !path.exists() {
        bail!(
            "this machine has no LAN identity yet ({}): pair it with the receiver first (`chatvault pair`)",
            path.display()
        );
    }
    Ok(Identity::load_or_create(&path, &machine_name())?)
}

fn machine_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

fn receiver_dir(dir: &Option<PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.clone()),
        None => Ok(data_dir()?.join("received")),
    }
}

fn code_text(code: &str) -> String {
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a} {b}")
}

fn print_pairing(uri: &PairingUri, code: &str, uri_file: Option<&Path>, show_qr: bool) {
    if let Some(path) = uri_file {
        if let Err(e) = private_file::write(path, format!("{}\n", uri.to_uri()).as_bytes()) {
            eprintln!("warning: cannot write {}: {e}", path.display());
        }
    }
    if show_qr {
        match qrcode::QrCode::new(uri.to_uri().as_bytes()) {
            Ok(qr) => {
                let art = qr
                    .render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build();
                println!("Scan with the ChatVault app to pair:\n{art}");
            }
            Err(e) => log::warn!("cannot draw the QR code: {e}"),
        }
    }
    println!(
        "Or type this address and code on the phone: {}  code {}",
        uri.addresses.first().map(String::as_str).unwrap_or("?"),
        code_text(code)
    );
}

/// `chatvault serve`.
pub fn serve(cli: &Cli, a: &ServeArgs) -> Result<i32> {
    let dir = receiver_dir(&a.dir)?;
    let listener = TcpListener::bind(&a.listen).with_context(|| {
        format!(
            "cannot listen on {} (another program on that port? choose one with --listen)",
            a.listen
        )
    })?;
    let bound = listener.local_addr()?;
    let port = bound.port();
    let addresses = if bound.ip().is_unspecified() {
        discovery::local_addresses(port)
    } else {
        vec![bound.to_string()]
    };
    let mut options = ReceiverOptions::new(&dir);
    if let Some(name) = &a.name {
        options.name = name.clone();
    }
    let default_mib = if a.store.is_some() { 128 } else { 1025 };
    options.max_object_bytes = a
        .max_object_mib
        .unwrap_or(default_mib)
        .saturating_mul(1 << 20);
    if let Some(store) = &a.store {
        let store = Location::parse(store)?;
        // Reachable and writable before any phone connects.
        let access = chatvault_core::storage::Access::from_env()?;
        let probe = store.open(&access)?;
        probe
            .list(chatvault_core::storage::ObjectKind::Key)
            .with_context(|| format!("the store {store} cannot be used"))?;
        options.store = Some(store);
        options.store_access = access;
    }
    options.quota_bytes = a.quota_gib.map(|g| (g * (1u64 << 30) as f64) as u64);
    let uri_file = a.pair_uri_file.clone();
    let json = cli.json;
    let events = Box::new(move |event: ReceiverEvent| {
        match event {
        ReceiverEvent::Paired { device } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"event": "paired", "folder": device.folder, "label": device.label, "fingerprint": device.fingerprint})
                );
            } else {
                println!(
                    "Paired \"{}\": its backups go to folder {} (identity {})",
                    device.label,
                    device.folder,
                    &device.fingerprint[..16]
                );
            }
        }
        ReceiverEvent::NewPairing { uri, code } => {
            if !json {
                print_pairing(&uri, &code, uri_file.as_deref(), false);
            } else {
                if let Some(path) = &uri_file {
                    let _ = private_file::write(path, format!("{}\n", uri.to_uri()).as_bytes());
                }
                println!("{}", serde_json::json!({"event": "pairing", "code": code}));
            }
        }
        ReceiverEvent::CodeLocked if json => {
            println!("{}", serde_json::json!({"event": "code-locked"}))
        }
        ReceiverEvent::Connected { folder } if json => {
            println!("{}", serde_json::json!({"event": "connected", "folder": folder}))
        }
        ReceiverEvent::CodeLocked => println!(
            "Too many wrong codes: pairing by code is off until this receiver restarts (the QR code still works)."
        ),
        ReceiverEvent::Connected { folder } => println!("{folder} connected"),
    }
    });
    let receiver = Receiver::open(options.clone(), addresses.clone(), events)?;
    let fingerprint = receiver.fingerprint();
    let (uri, code) = receiver.pairing();
    if json {
        // The file first: a script that saw "listening" may read it at once.
        if let Some(path) = &a.pair_uri_file {
            private_file::write(path, format!("{}\n", uri.to_uri()).as_bytes())?;
        }
        println!(
            "{}",
            serde_json::json!({"event": "listening", "addresses": addresses, "port": port, "fingerprint": fingerprint.to_hex(), "code": code, "dir": dir})
        );
    } else {
        println!(
            "ChatVault receiver \"{}\" (identity {})",
            options.name,
            fingerprint.short()
        );
        println!(
            "Backups land in {}",
            a.store.clone().unwrap_or_else(|| dir.display().to_string())
        );
        println!(
            "Listening on {bound}; phones can reach it at {}",
            addresses.join(", ")
        );
        print_pairing(&uri, &code, a.pair_uri_file.as_deref(), true);
        println!("If the phone cannot find or reach this PC: both must be on the same network (guest Wi-Fi and hotspots often keep devices apart) and the firewall must allow TCP port {port}.");
    }
    let _advertisement = if a.no_mdns {
        None
    } else {
        match discovery::advertise(&options.name, port, &fingerprint) {
            Ok(ad) => Some(ad),
            Err(e) => {
                eprintln!("warning: not advertised on the network ({e}); phones can still use the address");
                None
            }
        }
    };
    receiver.serve(listener)?;
    Ok(0)
}

/// `chatvault pair`.
pub fn pair(cli: &Cli, a: &PairArgs) -> Result<i32> {
    let method = if a.target.starts_with("chatvault:") {
        PairingMethod::Uri(PairingUri::parse(&a.target)?)
    } else {
        let code = a.code.clone().ok_or_else(|| {
            anyhow!("give the code the receiver shows: chatvault pair HOST:PORT CODE")
        })?;
        let address = if a.target.contains(':') && !a.target.ends_with(']') {
            a.target.clone()
        } else {
            format!("{}:{}", a.target, chatvault_core::lan::DEFAULT_PORT)
        };
        PairingMethod::Code {
            address,
            code: chatvault_core::lan::pairing::clean_code(&code),
        }
    };
    let identity = identity(true)?;
    let name = a.name.clone().unwrap_or_else(machine_name);
    let paired = pair_with(&method, &identity, &name)?;
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"location": paired.location, "folder": paired.device, "receiver": paired.receiver_name, "fingerprint": paired.receiver.to_hex()})
        );
    } else {
        println!(
            "Paired with \"{}\" (identity {}); this device's folder there: {}",
            paired.receiver_name,
            paired.receiver.short(),
            paired.device
        );
        println!("Repository location: {}", paired.location);
        println!(
            "First time: chatvault --repo '{}' init   then: chatvault --repo '{}' backup PATH",
            paired.location, paired.location
        );
    }
    Ok(0)
}

/// `chatvault discover`.
pub fn discover(cli: &Cli, seconds: f64) -> Result<i32> {
    let found = discovery::browse(Duration::from_secs_f64(seconds.clamp(0.1, 60.0)))?;
    if cli.json {
        let list: Vec<_> = found
            .iter()
            .map(|f| serde_json::json!({"name": f.name, "addresses": f.addresses, "fingerprint": f.fingerprint.map(|x| x.to_hex())}))
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else if found.is_empty() {
        println!("No receiver found. Is `chatvault serve` running on the PC, on the same network? Guest Wi-Fi and hotspots often keep devices apart; typing the PC's address works too.");
    } else {
        for f in &found {
            println!(
                "{}  {}  identity {}",
                f.name,
                f.addresses.join(", "),
                f.fingerprint
                    .map(|x| x.short())
                    .unwrap_or_else(|| "?".into())
            );
        }
    }
    Ok(if found.is_empty() { 10 } else { 0 })
}

/// `chatvault devices`.
pub fn devices(cli: &Cli, a: &DevicesArgs) -> Result<i32> {
    let dir = receiver_dir(&a.dir)?;
    let mut registry = Registry::load(&receiver::state_dir(&dir))?;
    if let Some(which) = &a.revoke {
        return match registry.revoke(which)? {
            Some(d) => {
                println!(
                    "Revoked {} (\"{}\"); its backups stay in {}",
                    d.folder,
                    d.label,
                    dir.join(&d.folder).display()
                );
                Ok(0)
            }
            None => bail!("no paired device is called {which:?} (see `chatvault devices`)"),
        };
    }
    if let (Some(which), Some(folder)) = (&a.assign, &a.to) {
        let location = match &a.store {
            Some(store) => Location::parse(store)?,
            None => Location::local(&dir),
        }
        .join(folder)?;
        let held = crate::context::open_location(&location)?
            .size(chatvault_core::storage::ObjectKind::Config, "config")?;
        if held.is_none() {
            bail!("{location} holds no repository (see `chatvault devices` for the folders)");
        }
        return match registry.assign(which, folder)? {
            Some(d) => {
                println!("\"{}\" now uses folder {folder}", d.label);
                Ok(0)
            }
            None => bail!("no paired device is called {which:?} (see `chatvault devices`)"),
        };
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(registry.devices())?);
        return Ok(0);
    }
    if registry.devices().is_empty() {
        println!("No paired devices in {}", dir.display());
    }
    for d in registry.devices() {
        let when = chrono::DateTime::from_timestamp(d.paired_at, 0)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        println!(
            "{:<20} {:<24} {}  paired {when}",
            d.folder,
            d.label,
            &d.fingerprint[..16]
        );
    }
    Ok(0)
}
