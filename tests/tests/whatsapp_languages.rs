//! WhatsApp text exports in every language WhatsApp ships: each fixture under
//! `tests/fixtures/whatsapp/<language>/` (written by `generate.py` there from the language
//! facts in `languages.json`) is read as a user's export would be, Android `.txt` with its
//! media beside it, iOS `_chat.txt` as a folder and as the zip WhatsApp makes, and every
//! message is compared with `expected.json`: time, author, whether the owner sent it, kind,
//! text, media and edits. All languages are checked before the test fails, so one run lists
//! every language that is wrong.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chatvault_core::sources::model::Message;
use chatvault_core::sources::{self, SourceKind, SourceOptions};
use serde_json::Value;

mod common;
use common::Collect;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/whatsapp")
}

fn read(path: &Path, me: Option<&str>) -> Result<Collect, String> {
    let mut c = Collect::default();
    let opts = SourceOptions {
        kind: Some(SourceKind::WhatsApp),
        whatsapp_me: me.map(str::to_string),
        ..Default::default()
    };
    sources::read(path, &opts, &mut c).map_err(|e| e.to_string())?;
    Ok(c)
}

fn wall_clock(m: &Message) -> String {
    chrono::DateTime::from_timestamp_millis(m.time.millis())
        .map(|t| t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Differences between what was read and what the fixture says, one line each.
fn compare(what: &str, got: &[Message], want: &Value, media_prefix: &str) -> Vec<String> {
    let want = want.as_array().expect("messages");
    let mut diffs = Vec::new();
    if got.len() != want.len() {
        diffs.push(format!(
            "{what}: {} messages, expected {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let mut check = |field: &str, got: Value, want: &Value| {
            if &got != want {
                diffs.push(format!("{what} #{i} {field}: got {got}, expected {want}"));
            }
        };
        check("time", Value::from(wall_clock(g)), &w["time"]);
        check(
            "author",
            g.sender.clone().map_or(Value::Null, Value::from),
            &w["author"],
        );
        check("from_me", Value::from(g.from_me), &w["from_me"]);
        check("kind", Value::from(g.kind.as_str()), &w["kind"]);
        check("text", Value::from(g.text.clone()), &w["text"]);
        check("edited", Value::from(g.edited), &w["edited"]);
        let media = g.media.as_ref().map_or(Value::Null, |m| {
            let path = if m.path.is_empty() {
                String::new()
            } else {
                format!("{media_prefix}{}", m.path)
            };
            serde_json::json!({"path": path, "present": m.present})
        });
        check("media", media, &w["media"]);
        if g.raw.as_deref().is_none_or(str::is_empty) {
            diffs.push(format!(
                "{what} #{i}: the message's lines are not kept (raw)"
            ));
        }
    }
    diffs
}

fn zip_folder(dir: &Path, zip_path: &Path) {
    let mut z = zip::ZipWriter::new(fs::File::create(zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        z.start_file(p.file_name().unwrap().to_string_lossy(), opts)
            .unwrap();
        z.write_all(&fs::read(&p).unwrap()).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn every_language_reads_as_its_facts_say() {
    let tmp = tempfile::tempdir().unwrap();
    let mut languages: Vec<PathBuf> = fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    languages.sort();
    assert!(languages.len() >= 32, "fixtures missing: run generate.py");
    let mut failures = Vec::new();
    let mut messages = 0;
    for dir in &languages {
        let code = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let partner = expected["partner"].as_str().unwrap();
        let owner = expected["owner"].as_str().unwrap();

        // Android: the folder the user exported to, media beside the text. The owner is
        // inferred from the file name, which names the partner in the phone's language.
        let android = dir.join("android");
        let kind = sources::detect(&android).map_err(|e| e.to_string());
        if kind != Ok(SourceKind::WhatsApp) {
            failures.push(format!("{code} android: detected as {kind:?}"));
        }
        match read(&android, None) {
            Ok(c) => {
                let want = &expected["android"]["messages"];
                messages += want.as_array().unwrap().len();
                failures.extend(compare(
                    &format!("{code} android"),
                    &c.messages,
                    want,
                    "android/",
                ));
                let conv = &c.conversations[0];
                if conv.name != partner {
                    failures.push(format!(
                        "{code} android: chat named {:?}, expected {partner:?}",
                        conv.name
                    ));
                }
                if conv.kind != chatvault_core::sources::model::ConversationKind::Direct {
                    failures.push(format!(
                        "{code} android: a one-to-one chat read as {:?}",
                        conv.kind
                    ));
                }
            }
            Err(e) => failures.push(format!("{code} android: {e}")),
        }

        // iOS as a folder (`_chat.txt` names nobody: the owner is given, as a user would).
        let ios = dir.join("ios");
        match read(&ios, Some(owner)) {
            Ok(c) => {
                let want = &expected["ios"]["messages"];
                messages += want.as_array().unwrap().len();
                failures.extend(compare(&format!("{code} ios"), &c.messages, want, "ios/"));
            }
            Err(e) => failures.push(format!("{code} ios: {e}")),
        }

        // iOS as WhatsApp shares it: "WhatsApp Chat - NAME.zip"; the owner is inferred.
        let zip = tmp.path().join(format!("WhatsApp Chat - {partner}.zip"));
        zip_folder(&ios, &zip);
        match read(&zip, None) {
            Ok(c) => {
                let want = &expected["ios"]["messages"];
                messages += want.as_array().unwrap().len();
                failures.extend(compare(
                    &format!("{code} ios zip"),
                    &c.messages,
                    want,
                    "ios/",
                ));
            }
            Err(e) => failures.push(format!("{code} ios zip: {e}")),
        }
        fs::remove_file(&zip).unwrap();
    }
    println!(
        "{} languages, {messages} messages read in three ways; {} differences",
        languages.len(),
        failures.len()
    );
    for f in &failures {
        println!("  {f}");
    }
    assert!(
        failures.is_empty(),
        "{} differences (listed above)",
        failures.len()
    );
}

/// A folder holding many chats' exports (here: every language's, Android and iOS) is read
/// as one export with every chat in it; an Android export zipped with its media keeps them.
#[test]
fn a_folder_of_chats_and_android_zips() {
    let root = fixtures();
    let c = read(&root, None).unwrap();
    let languages = fs::read_dir(&root)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("expected.json").is_file())
        .count();
    assert_eq!(c.conversations.len(), 2 * languages, "one chat per .txt");
    let mut ids: Vec<&str> = c.conversations.iter().map(|c| c.id.as_str()).collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        2 * languages,
        "conversation ids are unique paths"
    );

    // Android zips name the text after the chat; its media sit beside it in the archive.
    let tmp = tempfile::tempdir().unwrap();
    let dir = root.join("de/android");
    let zip = tmp.path().join("WhatsApp Chat mit Jürgen Müller.zip");
    zip_folder(&dir, &zip);
    let c = read(&zip, None).unwrap();
    let expected: Value =
        serde_json::from_str(&fs::read_to_string(root.join("de/expected.json")).unwrap()).unwrap();
    let diffs = compare(
        "de android zip",
        &c.messages,
        &expected["android"]["messages"],
        "android/",
    );
    assert!(diffs.is_empty(), "{diffs:#?}");
    assert_eq!(c.conversations[0].name, "Jürgen Müller");
}
