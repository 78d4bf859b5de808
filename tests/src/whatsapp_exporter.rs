//! PyPI's whatsapp-chat-exporter (`wtsexporter`), the independent reader the tests of
//! WhatsApp's databases compare ours with (tests/tests/whatsapp_db.rs, whatsapp_ios.rs).
//! scripts/test.sh installs it; a missing one fails with the install command.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// The version scripts/test.sh installs (kept in step with it).
pub const PACKAGE: &str = "whatsapp-chat-exporter==0.13.1";

/// Runs `wtsexporter` with `inputs` (the platform flag and its databases and media folder)
/// in `scratch`, asking for JSON only, and returns the JSON: `{chat jid: {messages: {row id:
/// message}}}`. It writes into its media folder: give it a copy.
pub fn run(inputs: &[OsString], scratch: &Path) -> serde_json::Value {
    let json = scratch.join("result.json");
    let out = Command::new("wtsexporter")
        .args(inputs)
        .arg("-o")
        .arg(scratch.join("out"))
        .arg("-j")
        .arg(&json)
        .args(["--no-html", "--no-banner"])
        .current_dir(scratch)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "wtsexporter (PyPI {PACKAGE}) is missing ({e}): install it with\n  \
                 python3 -m pip install {PACKAGE}   (scripts/test.sh does this)"
            )
        });
    assert!(
        out.status.success(),
        "wtsexporter failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}
