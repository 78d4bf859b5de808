//! What the reader tests share: a sink that keeps everything a reader reports, the
//! comparison of a chat with what PyPI's whatsapp-chat-exporter read of it, and a new local
//! repository with a fast key derivation.
// Each test crate uses a part of it.
#![allow(dead_code)]

use chatvault_core::sources::model::{
    Account, ChatSink, Contact, Conversation, MediaKey, Message, MessageKind,
};

/// Keeps what a reader reports, in order.
#[derive(Default)]
pub struct Collect {
    pub account: Option<Account>,
    pub contacts: Vec<Contact>,
    pub conversations: Vec<Conversation>,
    pub messages: Vec<Message>,
    pub warnings: Vec<String>,
    /// Paths of media stored encrypted, in the order their keys came.
    pub media_keys: Vec<String>,
}

impl ChatSink for Collect {
    fn account(&mut self, a: &Account) -> chatvault_core::Result<()> {
        self.account = Some(a.clone());
        Ok(())
    }
    fn contact(&mut self, c: &Contact) -> chatvault_core::Result<()> {
        self.contacts.push(c.clone());
        Ok(())
    }
    fn conversation(&mut self, c: &Conversation) -> chatvault_core::Result<()> {
        self.conversations.push(c.clone());
        Ok(())
    }
    fn message(&mut self, m: Message) -> chatvault_core::Result<()> {
        self.messages.push(m);
        Ok(())
    }
    fn warning(&mut self, w: String) {
        self.warnings.push(w);
    }
    fn media_key(&mut self, path: &str, _: &MediaKey) -> chatvault_core::Result<()> {
        self.media_keys.push(path.to_string());
        Ok(())
    }
}

/// How much of one chat [`compare_chat`] compared.
#[derive(Debug, Default)]
pub struct Compared {
    /// Rows (the same in both).
    pub rows: usize,
    /// Plain texts.
    pub texts: usize,
    /// Replies theirs reads.
    pub replies: usize,
    /// Senders theirs names.
    pub senders: usize,
}

/// Ours and the exporter's reading of chat `jid`: the same rows (keyed by row id in both);
/// per row the direction, the time to the millisecond, plain texts, the reply's target
/// (`reply_prefix`: theirs keeps only the start of the id, as on iPhone), and the sender
/// where theirs names one (by number where it has no name). System lines, and calls without
/// a sender, are not compared by sender: ours names their actor in the sentence.
pub fn compare_chat(
    theirs: &serde_json::Map<String, serde_json::Value>,
    jid: &str,
    ours: &[Message],
    reply_prefix: bool,
) -> Compared {
    let t = theirs
        .get(jid)
        .unwrap_or_else(|| panic!("the exporter has no chat {jid}: {:?}", theirs.keys()));
    let t_msgs = t["messages"].as_object().unwrap();
    let o_msgs: std::collections::BTreeMap<&str, _> = ours
        .iter()
        .filter(|m| m.conversation == jid)
        .map(|m| (m.id.as_str(), m))
        .collect();
    let mut t_ids: Vec<&str> = t_msgs.keys().map(String::as_str).collect();
    t_ids.sort();
    let o_ids: Vec<&str> = o_msgs.keys().copied().collect();
    assert_eq!(t_ids, o_ids, "{jid}: rows differ");
    let mut c = Compared {
        rows: t_msgs.len(),
        ..Default::default()
    };
    for (id, tm) in t_msgs {
        let om = o_msgs[id.as_str()];
        assert_eq!(tm["from_me"].as_bool(), Some(om.from_me), "{jid}: {id}");
        // Seconds, as a float in theirs.
        let ts = tm["timestamp"].as_f64().unwrap();
        assert_eq!(
            (ts * 1000.0).round() as i64,
            om.time.millis(),
            "{jid}: {id}"
        );
        if om.kind == MessageKind::Text {
            assert_eq!(tm["data"].as_str(), Some(om.text.as_str()), "{jid}: {id}");
            c.texts += 1;
        }
        if let Some(r) = tm["reply"].as_str() {
            let ours_r = om.reply_to.as_deref().unwrap_or("");
            if reply_prefix {
                assert!(
                    ours_r.starts_with(r),
                    "{jid}: {id} replies to {r}, ours {ours_r}"
                );
            } else {
                assert_eq!(ours_r, r, "{jid}: {id}");
            }
            c.replies += 1;
        }
        let no_sender =
            om.kind == MessageKind::System || (om.kind == MessageKind::Call && om.sender.is_none());
        if let (Some(name), false) = (tm["sender"].as_str(), no_sender) {
            if name.chars().all(|ch| ch.is_ascii_digit()) {
                // Theirs falls back to the member's number: the same member as ours.
                let user = om.sender.as_deref().and_then(|j| j.split('@').next());
                assert_eq!(user, Some(name), "{jid}: {id}");
            } else {
                assert_eq!(om.sender_name.as_deref(), Some(name), "{jid}: {id}");
            }
            c.senders += 1;
        }
    }
    println!("{jid}: {c:?}");
    c
}

/// What a generated WeChat iPhone account (`chat_exports::wechat_ios_account` for `owner`)
/// must read as beyond its counts, its conversations' ids prefixed with `prefix` (empty, or
/// `<account>:` when several accounts were read): the WeChat Work contact named from
/// `OpenIMContact`, the stranger named by `session.db`'s username (not a hash), the group's
/// members, a group nickname on its member's messages where no remark wins over it, the
/// owner's messages sent by the owner, voice lengths.
pub fn assert_wechat_ios_people(
    index: &chatvault_core::chat::ChatIndex,
    prefix: &str,
    owner: &str,
) {
    use chatvault_fixtures::chat_exports::{
        WECHAT_IOS_GROUP_NICKNAME, WECHAT_IOS_OPENIM, WECHAT_IOS_STRANGER,
    };
    let conversations: Vec<_> = index
        .conversations()
        .unwrap()
        .into_iter()
        .filter(|c| c.id.starts_with(prefix))
        .collect();
    let find = |id: &str| {
        conversations
            .iter()
            .find(|c| c.id == format!("{prefix}{id}"))
            .unwrap_or_else(|| panic!("no conversation {prefix}{id}"))
    };
    assert_eq!(find(WECHAT_IOS_OPENIM.0).name, WECHAT_IOS_OPENIM.1);
    assert_eq!(find(WECHAT_IOS_STRANGER).name, WECHAT_IOS_STRANGER);
    assert!(
        !conversations.iter().any(|c| c.id.contains("md5:")),
        "every chat named by its username"
    );
    let group = find("6000@chatroom");
    assert_eq!(group.members, ["wxid_p0001", "wxid_p0002", owner]);
    let (mut nicknamed, mut remarked, mut mine, mut voices) = (0, 0, 0, 0);
    for c in &conversations {
        index
            .for_each_message(&c.id, |m| {
                if m.from_me {
                    assert_eq!(m.sender.as_deref(), Some(owner), "{m:?}");
                    mine += 1;
                }
                if c.id == group.id && m.sender.as_deref() == Some("wxid_p0002") {
                    assert_eq!(m.sender_name.as_deref(), Some(WECHAT_IOS_GROUP_NICKNAME));
                    nicknamed += 1;
                }
                if c.id == group.id && m.sender.as_deref() == Some("wxid_p0001") {
                    assert_eq!(m.sender_name.as_deref(), Some("备注0"), "a remark wins");
                    remarked += 1;
                }
                if m.kind == "voice" {
                    assert_eq!(m.details.duration_seconds, Some(2), "{m:?}");
                    voices += 1;
                }
                Ok(())
            })
            .unwrap();
    }
    assert!(
        nicknamed > 0 && remarked > 0 && mine > 0 && voices > 0,
        "{nicknamed} {remarked} {mine} {voices}"
    );
}

/// A new repository in `dir` (local storage, a fast key derivation, 1 MiB packs, no
/// recovery key), opened with `password`.
pub fn new_repo(dir: &std::path::Path, password: &str) -> chatvault_core::Repository {
    use chatvault_core::storage::{LocalStorage, Storage};
    let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(LocalStorage::new(dir));
    let opts = chatvault_core::InitOptions {
        kdf: chatvault_core::KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        pack_size: 1024 * 1024,
        recovery_key: false,
        linked_to: None,
    };
    chatvault_core::Repository::init(storage, password, &opts)
        .unwrap()
        .0
}
