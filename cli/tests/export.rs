//! `chatvault export` as people use it: the HTML site loaded in headless Chromium (Debian's
//! package, driven by playwright-core from npm; both installed by scripts/test.sh), the JSON
//! and text formats, filters, refusals, and memory for a 200,000-message conversation.
//!
//! Screenshots go to `target/test-artifacts/export/`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chatvault_fixtures::chat_exports::{
    telegram, whatsapp_android, whatsapp_ios_zip, zip_bomb_first_photo, ChatSpec, WhatsAppLocale,
    NEEDLE,
};
use serde_json::Value;

mod common;
use common::{code, run_measured, Env};

/// A message that would run script if the export did not escape it.
const HOSTILE: &str =
    r#"<script>window.pwned=1</script><img src=x onerror="window.pwned=2"> & "quoted""#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixture() -> PathBuf {
    workspace().join("tests/fixtures/wechat-android-small")
}

fn expected() -> Value {
    let text =
        fs::read_to_string(workspace().join("tests/fixtures/wechat-android-small.expected.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Loads an export in headless Chromium and returns what the page showed (see
/// tests/browser/check-export.mjs).
fn browse(site: &Path, query: &str, open: Option<&str>, name: &str) -> Value {
    let tools = chatvault_fixtures::servers::tools_dir();
    assert!(
        tools.join("node_modules/playwright-core").exists(),
        "playwright-core is missing under {}: run scripts/test.sh, which installs it",
        tools.display()
    );
    let shots = workspace().join("target/test-artifacts/export").join(name);
    let mut cmd = Command::new("node");
    cmd.arg(workspace().join("tests/browser/check-export.mjs"))
        .args(["--dir", site.to_str().unwrap(), "--query", query])
        .args(["--shots", shots.to_str().unwrap()])
        .env("CHATVAULT_TOOLS", &tools);
    if let Some(stem) = open {
        cmd.args(["--open", stem]);
    }
    let out = cmd
        .output()
        .expect("node (Node.js) is needed for the browser tests");
    assert!(
        out.status.success(),
        "the browser check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], Value::Array(vec![]), "page errors");
    assert_eq!(
        report["network"],
        Value::Array(vec![]),
        "the export must open without a network"
    );
    assert_eq!(report["phoneOverflow"], false, "the list must fit a phone");
    report
}

/// Every `media/...` file the site's pages reference, relative to the site.
fn referenced_media(site: &Path) -> BTreeSet<String> {
    let re =
        regex::Regex::new(r#"(?:src|href|poster|data-full)="\.\./\.\./(media/[^"]+)""#).unwrap();
    let mut found = BTreeSet::new();
    for entry in walk(&site.join("chats")) {
        if entry.extension().is_some_and(|e| e == "html") {
            let text = fs::read_to_string(&entry).unwrap();
            for c in re.captures_iter(&text) {
                let decoded = percent_decode(&c[1]);
                found.insert(decoded);
            }
        }
    }
    found
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every file under `site/media`, relative to the site.
fn media_files(site: &Path) -> BTreeSet<String> {
    walk(&site.join("media"))
        .into_iter()
        .map(|p| p.strip_prefix(site).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The number of messages the engine's own search finds (the browser must agree).
fn engine_hits(env: &Env, query: &str) -> u64 {
    let hits = env.json(&["search", query, "--limit", "100000"]);
    hits.as_array().unwrap().len() as u64
}

#[test]
fn wechat_fixture_exports_to_a_site_that_chromium_renders_and_searches() {
    let env = Env::new();
    env.init();
    env.ok(&["backup", "-q", fixture().to_str().unwrap()]);
    let site = env.home.join("site");
    let summary = env.json(&["export", "--out", site.to_str().unwrap()]);
    let expected = expected();
    let by_conv = expected["messages_by_conversation"].as_object().unwrap();
    assert_eq!(summary["summary"]["conversations"], by_conv.len());
    assert_eq!(summary["summary"]["messages"], expected["messages_total"]);
    // Missing media: the two images the fixture leaves out, and the files (app messages of
    // type 6) whose file never reached the phone; the export says what the backup found.
    let chats = env.json(&["chats"]);
    assert_eq!(summary["summary"]["media_missing"], chats["media_missing"]);
    assert!(
        chats["media_missing"].as_u64().unwrap() >= expected["images_missing"].as_u64().unwrap()
    );

    // Only what the pages reference is copied, and everything they reference is there.
    let referenced = referenced_media(&site);
    let copied = media_files(&site);
    assert!(!copied.is_empty());
    assert_eq!(summary["summary"]["media_files"], copied.len());
    assert!(copied.is_subset(&referenced), "copied but not referenced");
    let absent: Vec<_> = referenced
        .difference(&copied)
        .filter(|p| !p.contains("/th_"))
        .collect();
    assert!(absent.is_empty(), "referenced but not copied: {absent:?}");

    let query = "晚上吃什么";
    let r = browse(&site, query, Some("2100@chatroom"), "wechat-fixture");
    assert_eq!(r["conversations"], by_conv.len());
    let list = r["listText"].as_str().unwrap();
    for name in expected["display_names"].as_object().unwrap().values() {
        assert!(list.contains(name.as_str().unwrap()), "{name} not listed");
    }
    assert!(list.contains("家庭群 👨‍👩‍👧"), "group name with emoji");
    // Every sample message's text, CJK and emoji included, as the browser renders it.
    let pages = r["pagesText"].as_str().unwrap();
    for s in expected["samples"].as_array().unwrap() {
        let text = s["text"].as_str().unwrap();
        if !text.is_empty() {
            assert!(pages.contains(text), "sample {text:?} not shown");
        }
    }
    // The browser's search finds what the engine finds, and its first hit leads to it.
    let hits = engine_hits(&env, query);
    assert!(hits > 0);
    assert_eq!(r["searchHits"], hits.min(200));
    assert!(r["firstHitText"].as_str().unwrap().contains(query));
    // The fixture's image files are JPEG headers over random bytes: referenced and copied,
    // but no browser can decode them (the page says so instead of a broken image).
    assert!(!r["images"].as_array().unwrap().is_empty());
    assert!(r["openSearchSummary"].as_str().unwrap().contains("found"));
    assert_eq!(r["lang"], "en");
    assert!(r["openPager"].as_str().unwrap().starts_with("Page 1 of"));
}

#[test]
fn the_site_speaks_chinese_when_the_locale_is_chinese() {
    let env = Env::new();
    env.init();
    env.ok(&["backup", "-q", fixture().to_str().unwrap()]);
    let site = env.home.join("site-zh");
    let out = env
        .cmd(&["export", "--out", site.to_str().unwrap()])
        .env("LANG", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let query = "晚上吃什么";
    let r = browse(&site, query, Some("2100@chatroom"), "wechat-fixture-zh-CN");
    assert_eq!(r["lang"], "zh-CN");
    let header = r["listHeader"].as_str().unwrap();
    assert!(header.starts_with("聊天"), "{header}");
    assert!(
        header.contains("个会话") && header.contains("条消息"),
        "{header}"
    );
    assert!(r["listFooter"]
        .as_str()
        .unwrap()
        .starts_with("由 ChatVault 导出"));
    // Conversation kinds, day headings, the pager and the search box's script.
    assert!(r["listText"].as_str().unwrap().contains("群聊"));
    assert!(r["pagesText"].as_str().unwrap().contains("星期"));
    assert!(r["openPager"].as_str().unwrap().starts_with("第 1 页"));
    let hits = engine_hits(&env, query);
    let said = r["searchSummary"].as_str().unwrap();
    assert_eq!(said, format!("找到 {} 条消息", hits.min(200)), "{said}");
    // The messages themselves are as written; nothing English is left on the list page.
    for english in [
        "Chats",
        "conversations",
        "messages",
        "Exported by",
        "Search",
    ] {
        assert!(!header.contains(english), "{english:?} in {header}");
    }
}

#[test]
fn whatsapp_and_telegram_exports_render_with_their_images() {
    let env = Env::new();
    env.init();
    let cases: Vec<(&str, PathBuf, u64, u64)> = {
        let wa = env.home.join("whatsapp");
        let f1 = whatsapp_android(&wa, &ChatSpec::small(3), WhatsAppLocale::Us).unwrap();
        // A message that is markup must show as text, not run.
        let chat = wa.join("WhatsApp Chat with Friend 1.txt");
        let text = fs::read_to_string(&chat).unwrap();
        let header = &text[..text.find(" - ").unwrap() + 3];
        fs::write(&chat, format!("{text}{header}Friend: {HOSTILE}\n")).unwrap();
        let zip = env.home.join("WhatsApp Chat - Family.zip");
        let f2 = whatsapp_ios_zip(&zip, &ChatSpec::small(4)).unwrap();
        let tg = env.home.join("telegram");
        let f3 = telegram(&tg, &ChatSpec::small(5)).unwrap();
        vec![
            (
                "whatsapp",
                wa,
                f1.by_conversation.len() as u64,
                f1.needle_hits,
            ),
            (
                "whatsapp-ios-zip",
                zip,
                f2.by_conversation.len() as u64,
                f2.needle_hits,
            ),
            (
                "telegram",
                tg,
                f3.by_conversation.len() as u64,
                f3.needle_hits,
            ),
        ]
    };
    for (name, path, conversations, needles) in cases {
        env.ok(&["backup", "-q", path.to_str().unwrap()]);
        let site = env.home.join(format!("site-{name}"));
        let summary = env.json(&["export", "--out", site.to_str().unwrap()]);
        assert_eq!(summary["summary"]["conversations"], conversations, "{name}");
        let r = browse(&site, NEEDLE, None, name);
        assert_eq!(r["conversations"], conversations, "{name}");
        let images = r["images"].as_array().unwrap();
        assert!(!images.is_empty(), "{name}: no images on the pages");
        for img in images {
            assert!(
                img["naturalWidth"].as_u64().unwrap() > 0,
                "{name}: image did not load: {img}"
            );
        }
        assert_eq!(r["searchHits"], needles.min(200), "{name}");
        assert!(r["pagesText"].as_str().unwrap().contains(NEEDLE), "{name}");
        if name == "whatsapp" {
            assert!(r["pagesText"].as_str().unwrap().contains(HOSTILE));
            assert_eq!(r["pwned"], Value::Null, "markup in a message ran");
        }
        assert!(
            media_files(&site).is_subset(&referenced_media(&site)),
            "{name}"
        );
    }
}

#[test]
fn a_zip_bomb_in_place_of_a_photo_is_left_out_of_the_export() {
    let env = Env::new();
    env.init();
    let zip = env.home.join("WhatsApp Chat - Family.zip");
    let facts = whatsapp_ios_zip(&zip, &ChatSpec::small(4)).unwrap();
    assert!(facts.media_present >= 2, "the chat needs two photos");
    // 600 MB of zeros: about 600 KB in the zip, 1000× over its size.
    let bomb = zip_bomb_first_photo(&zip, 600 << 20).unwrap();
    assert!(fs::metadata(&zip).unwrap().len() < 5 << 20);
    env.ok(&["backup", "-q", zip.to_str().unwrap()]);
    let site = env.home.join("site");
    let summary = env.json(&["export", "--out", site.to_str().unwrap()]);
    assert_eq!(summary["summary"]["conversations"], 1);
    let written: u64 = walk(&site)
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(written < 20 << 20, "the export wrote {written} bytes");
    let media = media_files(&site);
    assert!(
        !media.iter().any(|m| m.ends_with(&bomb)),
        "the bomb {bomb} was extracted: {media:?}"
    );
    // The other photos are still there.
    assert_eq!(media.len() as u64, facts.media_present - 1, "{media:?}");
}

#[test]
fn json_and_text_exports_hold_every_message_and_filters_select() {
    let env = Env::new();
    env.init();
    env.ok(&["backup", "-q", fixture().to_str().unwrap()]);
    let expected = expected();
    let by_conv = expected["messages_by_conversation"].as_object().unwrap();

    let json_dir = env.home.join("json");
    env.ok(&[
        "export",
        "--format",
        "json",
        "--out",
        json_dir.to_str().unwrap(),
    ]);
    let list: Value =
        serde_json::from_str(&fs::read_to_string(json_dir.join("conversations.json")).unwrap())
            .unwrap();
    assert_eq!(list["format"], "chatvault.chats");
    let convs = list["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), by_conv.len());
    let mut all = Vec::new();
    for c in convs {
        let doc: Value = serde_json::from_str(
            &fs::read_to_string(json_dir.join(c["file"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let id = doc["conversation"]["id"].as_str().unwrap().to_string();
        let msgs = doc["messages"].as_array().unwrap();
        assert_eq!(msgs.len() as u64, by_conv[&id].as_u64().unwrap(), "{id}");
        assert_eq!(c["messages"], msgs.len());
        for m in msgs {
            all.push((id.clone(), m.clone()));
        }
    }
    for s in expected["samples"].as_array().unwrap() {
        let found = all.iter().find(|(c, m)| {
            c == s["conversation"].as_str().unwrap()
                && m["id"].as_str() == Some(s["msgId"].to_string().as_str())
        });
        let (_, m) = found.unwrap_or_else(|| panic!("sample {s} not exported"));
        assert_eq!(m["text"], s["text"]);
        assert_eq!(m["from_me"], s["isSend"]);
        assert_eq!(m["time_ms"], s["createTime_ms"]);
    }
    // Media fields point at copied files.
    let with_file: Vec<_> = all
        .iter()
        .filter_map(|(_, m)| m["media"]["file"].as_str())
        .collect();
    assert!(!with_file.is_empty());
    for f in &with_file {
        assert!(json_dir.join(f).is_file(), "{f}");
    }

    // Text: one file per conversation, every sample's first line in it.
    let txt = env.home.join("txt");
    env.ok(&["export", "--format", "txt", "--out", txt.to_str().unwrap()]);
    for s in expected["samples"].as_array().unwrap() {
        let conv = s["conversation"].as_str().unwrap();
        let text = fs::read_to_string(txt.join("chats").join(format!("{conv}.txt"))).unwrap();
        let first = s["text"].as_str().unwrap().lines().next().unwrap_or("");
        assert!(text.contains(first), "{conv}: {first:?}");
    }

    // --chat and a time span: exactly the conversation's messages in that span.
    let group = "2100@chatroom";
    let times: Vec<i64> = all
        .iter()
        .filter(|(c, _)| c == group)
        .map(|(_, m)| m["time_ms"].as_i64().unwrap())
        .collect();
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let (since, until) = (day(times[times.len() / 3]), day(times[2 * times.len() / 3]));
    let span = env.home.join("span");
    let r = env.json(&[
        "export",
        "--format",
        "json",
        "--chat",
        group,
        "--since",
        &since,
        "--until",
        &until,
        "--out",
        span.to_str().unwrap(),
    ]);
    let want = times
        .iter()
        .filter(|&&t| day(t) >= since && day(t) <= until)
        .count();
    assert!(want > 0 && want < times.len());
    assert_eq!(r["summary"]["messages"], want);
    assert_eq!(r["summary"]["conversations"], 1);
    let only: BTreeSet<String> = media_files(&span);
    let group_media: BTreeSet<String> = all
        .iter()
        .filter(|(c, m)| {
            c == group && {
                let d = day(m["time_ms"].as_i64().unwrap());
                d >= since && d <= until
            }
        })
        .flat_map(|(_, m)| {
            // Thumbnails are copied when the export had them.
            let thumb = m["media"]["thumbnail_file"]
                .as_str()
                .filter(|t| json_dir.join(t).is_file());
            [m["media"]["file"].as_str(), thumb]
        })
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(only, group_media, "only the span's media is copied");

    // Refusals: a folder that holds something else, an unknown conversation, a bad date.
    let busy = env.home.join("busy");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("thesis.docx"), b"precious").unwrap();
    let out = env.run(&["export", "--out", busy.to_str().unwrap()]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(fs::read_dir(&busy).unwrap().count(), 1);
    let out = env.run(&[
        "export",
        "--chat",
        "nobody",
        "--out",
        env.home.join("x").to_str().unwrap(),
    ]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no conversation \"nobody\""));
    assert!(
        !env.home.join("x").exists(),
        "nothing written for a refused export"
    );
    let out = env.run(&[
        "export",
        "--since",
        "last week",
        "--out",
        env.home.join("y").to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    // An earlier export may be replaced.
    env.ok(&["export", "--format", "txt", "--out", txt.to_str().unwrap()]);
}

#[cfg(target_os = "linux")]
#[test]
fn a_200000_message_conversation_exports_in_bounded_memory_with_light_pages() {
    let env = Env::new();
    env.init();
    let wa = env.home.join("big");
    let spec = ChatSpec {
        messages: 200_000,
        conversations: 1,
        media_every: 400,
        missing_every: 0,
        seed: 9,
    };
    let facts = whatsapp_android(&wa, &spec, WhatsAppLocale::Us).unwrap();
    env.ok(&["backup", "-q", wa.to_str().unwrap()]);
    let site = env.home.join("site");
    let (status, rss) = run_measured(env.cmd(&["export", "-q", "--out", site.to_str().unwrap()]));
    assert_eq!(status, 0);
    println!(
        "export of a 200,000-message conversation: peak RSS {} MiB",
        rss >> 10
    );
    assert!(rss < 64 * 1024, "export peak RSS {rss} KiB");
    let stem = fs::read_dir(site.join("chats"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    let r = browse(&site, NEEDLE, Some(&stem), "large");
    assert_eq!(r["conversations"], 1);
    assert_eq!(r["openMessages"], 1000);
    assert_eq!(r["openPager"], "Page 1 of 200");
    assert_eq!(r["searchHits"], facts.needle_hits.min(200));
    let bytes = r["openNavigation"]["bytes"].as_u64().unwrap();
    println!(
        "first page of 200: {} KiB, loaded in {} ms (load event {:.0} ms); search over all \
         200,000 messages: {}",
        bytes >> 10,
        r["openLoadMs"],
        r["openNavigation"]["load"].as_f64().unwrap(),
        r["openSearchSummary"].as_str().unwrap()
    );
    assert!(
        bytes < 1 << 20,
        "a page of 1000 messages stays under 1 MiB: {bytes}"
    );
}

/// Links planted in an earlier export folder (by whoever could write there) are replaced,
/// never written through: every file outside the folder keeps its content.
#[cfg(unix)]
#[test]
fn links_planted_in_an_earlier_export_are_not_followed() {
    use std::os::unix::fs::symlink;
    let env = Env::new();
    env.init();
    env.ok(&["backup", "-q", fixture().to_str().unwrap()]);
    let out = env.home.join("json");
    let export = || {
        env.ok(&[
            "export",
            "-q",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    export();
    let chat = fs::read_dir(out.join("chats"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    assert!(out.join("media").is_dir(), "the fixture has media");

    let outside = env.home.join("outside");
    fs::create_dir_all(outside.join("chats")).unwrap();
    fs::create_dir_all(outside.join("media")).unwrap();
    let victims = [
        outside.join("list"),
        outside.join("marker"),
        outside.join("chats").join(&chat),
    ];
    for v in &victims {
        fs::write(v, b"keep").unwrap();
    }
    fs::remove_file(out.join("conversations.json")).unwrap();
    symlink(&victims[0], out.join("conversations.json")).unwrap();
    fs::remove_file(out.join(".chatvault-export")).unwrap();
    fs::hard_link(&victims[1], out.join(".chatvault-export")).unwrap();
    fs::remove_dir_all(out.join("chats")).unwrap();
    symlink(outside.join("chats"), out.join("chats")).unwrap();
    fs::remove_dir_all(out.join("media")).unwrap();
    symlink(outside.join("media"), out.join("media")).unwrap();

    export();
    for v in &victims {
        assert_eq!(fs::read(v).unwrap(), b"keep", "{} was written", v.display());
    }
    assert_eq!(fs::read_dir(outside.join("media")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(outside.join("chats")).unwrap().count(), 1);
    assert!(out.join("chats").join(&chat).is_file());
    assert!(!fs::symlink_metadata(out.join("chats"))
        .unwrap()
        .file_type()
        .is_symlink());
    let list: Value =
        serde_json::from_str(&fs::read_to_string(out.join("conversations.json")).unwrap()).unwrap();
    assert_eq!(list["format"], "chatvault.chats");
}
