//! Writes a WeChat-like chat export for benchmarks, or changes one as a day of use would.
//!
//!   gen-export --mib 1000 --out DIR     a new export of about 1000 MiB
//!   gen-export --day-later --out DIR    +1 % messages (in place) and 12 new media files (8 MiB)

use std::path::PathBuf;
use std::process::ExitCode;

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
        eprintln!("usage: gen-export (--mib N | --day-later) --out DIR");
        return ExitCode::from(2);
    };
    let result = if args.iter().any(|a| a == "--day-later") {
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
