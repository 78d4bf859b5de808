//! Telegram Desktop exports: the same chat exported as HTML (the default) and as JSON reads
//! into the same messages; odd JSON warns and keeps its messages; HTML layouts are detected;
//! fragments the reader does not understand stay visible. Fixtures: tests/fixtures/telegram/
//! (written by make_fixtures.py in the shapes tdesktop writes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chatvault_core::sources::model::{Message, MessageKind, Timestamp};
use chatvault_core::sources::{self, SourceKind, SourceOptions};

mod common;
use common::Collect;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/telegram")
        .join(p)
}

fn read(p: &Path) -> Collect {
    let mut c = Collect::default();
    let (kind, _) = sources::read(p, &SourceOptions::default(), &mut c).unwrap();
    assert_eq!(kind, SourceKind::Telegram);
    c
}

fn by_id(c: &Collect) -> BTreeMap<u64, &Message> {
    c.messages
        .iter()
        .filter_map(|m| m.id.parse().ok().map(|n| (n, m)))
        .collect()
}

#[test]
fn telegram_html_and_json_exports_of_one_chat_give_the_same_messages() {
    let html = read(&fixture("html"));
    let json = read(&fixture("json"));
    let h = by_id(&html);
    let j = by_id(&json);
    assert_eq!(h.len(), 27, "27 messages over two pages");
    assert_eq!(
        h.keys().collect::<Vec<_>>(),
        j.keys().collect::<Vec<_>>(),
        "same ids"
    );
    for (id, jm) in &j {
        let hm = h[id];
        let service = jm.kind == MessageKind::System;
        assert_eq!(hm.kind, jm.kind, "kind of {id}");
        // A sticker drawn as a picture in HTML has no emoji (checked below).
        if jm.kind != MessageKind::Sticker {
            assert_eq!(hm.text, jm.text, "text of {id}");
        }
        if jm.details.reply_to_chat.is_none() {
            assert_eq!(hm.reply_to, jm.reply_to, "reply of {id}");
        }
        assert_eq!(hm.from_me, jm.from_me, "from_me of {id}");
        assert_eq!(hm.media, jm.media, "media of {id}");
        // Service lines in HTML carry neither a time nor a sender: only the others compare.
        if !service {
            assert_eq!(hm.time, jm.time, "time of {id}");
            assert!(hm.time.is_utc());
            assert_eq!(hm.sender_name, jm.sender_name, "sender of {id}");
            // HTML has no user ids: its sender is the display name.
            assert_eq!(hm.sender, hm.sender_name);
            assert!(jm.sender.as_deref().unwrap().starts_with("user") || *id == 27);
        }
        let mut jd = jm.details.clone();
        // Inherent differences, each checked on the JSON side instead:
        // * HTML has no id for a user mentioned by name;
        jd.links.retain(|l| !l.starts_with("tg://user?id="));
        // * HTML does not name the chat of a reply into another chat (nor the message).
        if let Some(chat) = jd.reply_to_chat.take() {
            assert_eq!(chat, "channel999");
            assert_eq!(jm.reply_to.as_deref(), Some("77"));
            assert_eq!(hm.reply_to, None);
            continue;
        }
        assert_eq!(hm.details, jd, "details of {id}");
    }
    // A sticker drawn as a picture in HTML has no emoji; JSON has it.
    assert_eq!((j[&14].text.as_str(), h[&14].text.as_str()), ("😀", ""));
    // HTML has no "edited" mark; JSON does.
    assert!(j[&6].edited && !h[&6].edited);
    // Raw records: the HTML fragment as written, the JSON object.
    assert!(h[&5]
        .raw
        .as_deref()
        .unwrap()
        .starts_with("<div class=\"message default clearfix\" id=\"message5\">"));
    assert!(j[&5]
        .raw
        .as_deref()
        .unwrap()
        .contains("\"reply_to_message_id\":3"));
    assert_eq!(html.conversations.len(), 1);
    assert_eq!(html.conversations[0].name, "Weekend Hikers 登山队");
    assert_eq!(html.conversations[0].kind, json.conversations[0].kind);
}

#[test]
fn telegram_details_arrive_from_both_formats() {
    for dir in ["html", "json"] {
        let c = read(&fixture(dir));
        let m = by_id(&c);
        assert_eq!(
            m[&3].text,
            "Hi all!\nSee the map and https://t.me/hikers cc @bob_li"
        );
        assert_eq!(
            m[&3].details.links,
            [
                "https://example.org/map",
                "https://t.me/hikers",
                "https://t.me/bob_li"
            ]
        );
        // Joined message: no name of its own in HTML, the sender carries over.
        assert_eq!(m[&4].sender_name.as_deref(), Some("Alice Zhang"));
        assert_eq!(m[&24].sender_name.as_deref(), Some("Dave Okafor"));
        let r = &m[&5].details.reactions;
        assert_eq!((r[0].emoji.as_str(), r[0].count), ("👍", 2));
        assert_eq!(r[0].from, ["Alice Zhang", "Carol Haddad"]);
        assert_eq!(m[&7].details.reactions[0].count, 3);
        assert_eq!(m[&5].reply_to.as_deref(), Some("3"));
        assert_eq!(
            m[&22].reply_to.as_deref(),
            Some("5"),
            "reply to a message on page 1"
        );
        assert_eq!(m[&8].details.forwarded_from.as_deref(), Some("Trail News"));
        assert_eq!(m[&9].details.via_bot.as_deref(), Some("@wiki"));
        assert_eq!(
            m[&27].details.author_signature.as_deref(),
            Some("Admin Eve")
        );
        assert_eq!(m[&6].text, "مرحبا بالجميع");
        assert_eq!(m[&7].text, "我们周六见 🏔️");
        let photo = m[&10].media.as_ref().unwrap();
        assert!(photo.present && photo.path == "photos/photo_1@06-09-2025_10-20-00.jpg");
        let missing = m[&11].media.as_ref().unwrap();
        assert!(!missing.present && missing.path.is_empty());
        assert_eq!(m[&12].kind, MessageKind::Voice);
        assert_eq!(m[&12].details.duration_seconds, Some(5));
        assert_eq!(m[&13].kind, MessageKind::Video);
        assert_eq!(m[&13].details.duration_seconds, Some(15));
        assert_eq!(m[&14].kind, MessageKind::Sticker);
        assert_eq!(m[&15].text, "route.gpx");
        assert_eq!(m[&16].text, "Emergency Desk +1 555 0100");
        let place = m[&17].details.place.as_ref().unwrap();
        assert_eq!(
            (place.latitude, place.longitude),
            (Some(46.5575), Some(7.9856))
        );
        let venue = m[&18].details.place.as_ref().unwrap();
        assert_eq!(venue.title.as_deref(), Some("Kleine Scheidegg"));
        assert_eq!(venue.address.as_deref(), Some("3801 Lauterbrunnen"));
        let poll = m[&19].details.poll.as_ref().unwrap();
        assert_eq!(poll.question, "Start time?");
        let votes: Vec<_> = poll
            .answers
            .iter()
            .map(|a| (a.text.as_str(), a.voters))
            .collect();
        assert_eq!(
            votes,
            [("7:00", Some(2)), ("8:00", Some(1)), ("9:00", Some(0))]
        );
        assert_eq!(
            m[&20].reply_to.as_deref(),
            Some("19"),
            "a pin points at its message"
        );
        assert_eq!(m[&20].text, "Alice Zhang pinned this message");
        assert_eq!(m[&1].text, "Alice Zhang created group «Weekend Hikers 登山队» with members Alice Zhang, Bob Li and Carol Haddad");
        assert_eq!(m[&21].kind, MessageKind::Call);
        assert_eq!(m[&21].details.duration_seconds, Some(62));
        assert_eq!(m[&26].details.performer.as_deref(), Some("Trail Band"));
        assert_eq!(m[&26].details.title.as_deref(), Some("Hills"));
        assert_eq!(m[&26].details.duration_seconds, Some(185));
        // Dates: the zone offset is honoured (10:06 at UTC+8 is 02:06 UTC).
        assert_eq!(m[&3].time, Timestamp::Utc(1_757_124_360_000));
    }
}

#[test]
fn telegram_odd_json_warns_and_keeps_every_message() {
    let c = read(&fixture("odd_json"));
    let m: BTreeMap<&str, &Message> = c.messages.iter().map(|m| (m.id.as_str(), m)).collect();
    assert_eq!(c.messages.len(), 5, "{:?}", c.messages);
    assert_eq!(m["1"].sender.as_deref(), Some("user3001"), "number from_id");
    assert_eq!(
        m["1"].time,
        Timestamp::Utc(1_757_124_000_000),
        "number date_unixtime"
    );
    assert_eq!(m["2"].reply_to.as_deref(), Some("1"), "string reply id");
    assert_eq!(m["2"].text, "str ids");
    assert_eq!(m["2"].details.saved_from.as_deref(), Some("Notes channel"));
    assert!(m["2"].from_me, "personal chat: not the peer");
    // The odd field is ignored with a warning naming the file and the message.
    assert_eq!(m["3"].text, "odd via_bot");
    assert_eq!(m["3"].details.via_bot, None);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("result.json") && w.contains("message 3") && w.contains("via_bot")),
        "{:?}",
        c.warnings
    );
    assert_eq!(
        m["4"].details.author_signature.as_deref(),
        Some("Ann (admin)")
    );
    // A path outside the export never becomes a media path.
    let media = m["4"].media.as_ref().unwrap();
    assert!(media.path.is_empty() && !media.present);
    // An element that is not even an object is kept, visible, as unparsed.
    let u = c
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::Unparsed)
        .unwrap();
    assert_eq!(u.text, "7");
}

#[test]
fn telegram_detect_recognises_html_layouts() {
    assert_eq!(
        sources::detect(&fixture("html")).unwrap(),
        SourceKind::Telegram
    );
    assert_eq!(
        sources::detect(&fixture("full_html")).unwrap(),
        SourceKind::Telegram
    );
    assert_eq!(
        sources::detect(&fixture("html/messages2.html")).unwrap(),
        SourceKind::Telegram
    );
    assert_eq!(
        sources::detect(&fixture("json")).unwrap(),
        SourceKind::Telegram
    );
    // A page given alone is read (media not checked), with a warning.
    let c = read(&fixture("html/messages2.html"));
    assert!(c.messages.iter().any(|m| m.id == "22"));
    assert!(!c.warnings.is_empty());
}

#[test]
fn telegram_html_unparsed_fragments_stay_visible() {
    let c = read(&fixture("html"));
    let u: Vec<_> = c
        .messages
        .iter()
        .filter(|m| m.kind == MessageKind::Unparsed)
        .collect();
    assert_eq!(u.len(), 1);
    assert!(u[0].text.contains("A star gift 🎁 of 50 stars"));
    assert!(u[0]
        .raw
        .as_deref()
        .unwrap()
        .contains("class=\"message gift clearfix\""));
    // Date separators are not messages.
    assert!(!c.messages.iter().any(|m| m.text == "6 September 2025"));
}

#[test]
fn telegram_full_account_html_finds_both_chats() {
    let c = read(&fixture("full_html"));
    let names: Vec<_> = c.conversations.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Weekend Hikers 登山队", "Bob Li"]);
    assert_eq!(c.account.as_ref().unwrap().name, "Alice Zhang");
    let hi = c.messages.iter().find(|m| m.text == "Hi Bob").unwrap();
    assert!(hi.from_me, "the owner's name from export_results.html");
    assert_eq!(hi.conversation, "Bob Li");
    let photo = c
        .messages
        .iter()
        .find(|m| m.kind == MessageKind::Image)
        .unwrap();
    let media = photo.media.as_ref().unwrap();
    assert_eq!(
        media.path,
        "chats/chat_1/photos/photo_1@06-09-2025_10-20-00.jpg"
    );
    assert!(media.present);
}

#[test]
fn telegram_json_message_over_the_limit_is_cut_in_the_index_and_the_rest_read() {
    use chatvault_core::sources::telegram::MAX_STRING;
    let d = tempfile::tempdir().unwrap();
    // One text of 3 MiB (Chinese characters, 3 bytes each, and escapes), between two
    // ordinary messages.
    let huge: String = "你好\\\"世界\\n".repeat(MAX_STRING * 3 / 16);
    let json = format!(
        r#"{{"name":"Ann","type":"personal_chat","id":42,"messages":[
        {{"id":1,"type":"message","date":"2025-01-01T10:00:00","from":"Ann","from_id":"user42","text":"before"}},
        {{"id":2,"type":"message","date":"2025-01-01T10:01:00","from":"Ann","from_id":"user42","text":"{huge}"}},
        {{"id":3,"type":"message","date":"2025-01-01T10:02:00","from":"Ann","from_id":"user42","text":"after"}}]}}"#
    );
    std::fs::write(d.path().join("result.json"), &json).unwrap();
    let c = read(d.path());
    let m = by_id(&c);
    assert_eq!(m.len(), 3);
    assert_eq!(m[&1].text, "before");
    assert_eq!(m[&3].text, "after");
    let cut = &m[&2].text;
    assert!(cut.ends_with('…'), "{}", &cut[cut.len() - 20..]);
    assert!(cut.len() <= MAX_STRING + 3, "{}", cut.len());
    let whole = "你好\"世界\n".repeat(MAX_STRING * 3 / 16);
    assert!(whole.starts_with(cut.trim_end_matches('…')));
    assert!(cut.len() > MAX_STRING / 2, "kept {} bytes", cut.len());
    let raw = m[&2].raw.as_deref().unwrap();
    assert!(
        raw.len() < 2 * MAX_STRING,
        "raw kept cut too: {}",
        raw.len()
    );
    // Said once, naming the message.
    let said: Vec<_> = c
        .warnings
        .iter()
        .filter(|w| w.contains("cut short"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", c.warnings);
    assert!(said[0].contains("message 2"), "{}", said[0]);
}
