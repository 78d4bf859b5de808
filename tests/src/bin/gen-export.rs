//! Writes a WeChat-like chat export for benchmarks, or changes one as a day of use would.
//!
//!   gen-export --mib 1000 --out DIR     a new export of about 1000 MiB
//!   gen-export --day-later --out DIR    +1 % messages (in place) and 12 new media files (8 MiB)
//!   gen-export --kind K --messages N [--seed S] --out DIR
//!                                       a real-format chat export: K is wechat-android,
//!                                       wechat-android-plain, wechat-ios, whatsapp,
//!                                       whatsapp-zip (DIR is the .zip), telegram,
//!                                       whatsapp-db (WhatsApp's Android folder, plain
//!                                       msgstore.db), whatsapp-db-2021 (the 2020-2021
//!                                       layout) or whatsapp-ios (the iPhone app group)

use std::path::PathBuf;
use std::process::ExitCode;

use chatvault_fixtures::chat_exports::{self, ChatSpec, WhatsAppLocale};
use chatvault_fixtures::{
    add_day_with_media, count_messages, generate_export, ExportFacts, ExportSpec,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(out) = value("--out").map(PathBuf::from) else {
        eprintln!("usage: gen-export (--mib N | --day-later | --kind K --messages N) --out DIR");
        return ExitCode::from(2);
    };
    let result = if let Some(kind) = value("--kind") {
        let messages: u64 = value("--messages")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let seed: u64 = value("--seed").and_then(|v| v.parse().ok()).unwrap_or(1);
        let spec = ChatSpec::large(messages, seed);
        let per_chat = (messages as usize / 4).max(1);
        let db = |r: rusqlite::Result<(usize, usize)>| {
            r.map(|(m, c)| format!("{kind}: {m} messages in {c} conversations"))
                .map_err(std::io::Error::other)
        };
        let done = match kind.as_str() {
            "whatsapp-db" => Some(db(chatvault_fixtures::whatsapp_db::generate(
                &out, per_chat,
            )
            .map(|f| (f.messages, f.chats.len())))),
            "whatsapp-db-2021" => Some(db(chatvault_fixtures::whatsapp_db::generate_legacy(
                &out,
                per_chat,
                chatvault_fixtures::whatsapp_db::Legacy::Transitional,
            )
            .map(|f| (f.messages, f.chats.len())))),
            "whatsapp-ios" => Some(db(chatvault_fixtures::whatsapp_ios::generate(
                &out, per_chat,
            )
            .map(|f| (f.messages, f.chats.len())))),
            _ => None,
        };
        if let Some(done) = done {
            return match done {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gen-export: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        let facts = match kind.as_str() {
            "wechat-android" => chat_exports::wechat_android(&out, &spec, true),
            "wechat-android-plain" => chat_exports::wechat_android(&out, &spec, false),
            "wechat-ios" => chat_exports::wechat_ios(&out, &spec),
            "whatsapp" => chat_exports::whatsapp_android(&out, &spec, WhatsAppLocale::Us),
            "whatsapp-zip" => chat_exports::whatsapp_ios_zip(&out, &spec),
            "telegram" => chat_exports::telegram(&out, &spec),
            other => {
                eprintln!("gen-export: unknown kind {other}");
                return ExitCode::from(2);
            }
        };
        facts.map(|f| {
            format!(
                "{kind}: {} messages in {} conversations, {} media present, {} missing",
                f.messages(),
                f.by_conversation.len(),
                f.media_present,
                f.media_missing
            )
        })
    } else if args.iter().any(|a| a == "--day-later") {
        let facts = ExportFacts {
            database: out.join("db").join("EnMicroMsg.db"),
            root: out.clone(),
            messages: 0,
            media_files: 0,
        };
        count_messages(&facts.database)
            .and_then(|n| add_day_with_media(&facts, n / 100, 12, 680 * 1024, 1))
            .map(|n| format!("{n} messages after a day"))
    } else {
        let mib: u64 = value("--mib").and_then(|v| v.parse().ok()).unwrap_or(1000);
        generate_export(&out, &ExportSpec::sized(mib))
            .map(|f| format!("{} messages, {} media files", f.messages, f.media_files))
    };
    match result {
        Ok(msg) => {
            println!("{}: {msg}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-export: {e}");
            ExitCode::FAILURE
        }
    }
}
