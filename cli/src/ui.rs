//! Terminal output: progress bars on a terminal, plain lines otherwise; byte formatting.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chatvault_core::{Phase, Progress, ProgressListener};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A snapshot as one table row: id, local time, host, files, size (the columns of
/// `chatvault snapshots`; the demo prints the same rows).
pub fn snapshot_row(s: &chatvault_core::Snapshot) -> String {
    format!(
        "{:<8}  {:<19}  {:<16}  {:>7}  {:>10}",
        s.id.short(),
        s.time
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S"),
        s.host,
        s.summary.files,
        bytes(s.summary.bytes)
    )
}

/// Human-readable bytes (binary units).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Shows progress: an indicatif bar on a terminal, a line every few seconds otherwise,
/// JSON lines with `--json`, nothing when quiet.
pub enum ProgressView {
    Bar(ProgressBar),
    Lines(Mutex<Option<Instant>>),
    /// One JSON object a line on standard error (standard output keeps the one result
    /// document): at most one a second, and at every change of phase.
    Json(Mutex<Option<(Instant, Phase)>>),
    Silent,
}

impl ProgressView {
    /// The view a command shows: JSON lines with `--json`, nothing with `-q`.
    pub fn for_cli(cli: &crate::args::Cli) -> Self {
        if cli.quiet {
            ProgressView::Silent
        } else if cli.json {
            ProgressView::Json(Mutex::new(None))
        } else {
            ProgressView::new(false)
        }
    }

    pub fn new(quiet: bool) -> Self {
        if quiet {
            ProgressView::Silent
        } else if std::io::stderr().is_terminal() {
            // Hidden until the first report has set every field: a draw target attached
            // earlier can draw (directly or from the tick thread) a half-set bar, such as
            // the phase beside `0 B/0 B`. The estimate is ours (it knows that unchanged
            // files take no time), not the bar's.
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix:8} [{bar:30}] {bytes}/{total_bytes} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            ProgressView::Bar(bar)
        } else {
            ProgressView::Lines(Mutex::new(Some(Instant::now())))
        }
    }

    pub fn finish(&self) {
        if let ProgressView::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

/// `1m05s`, `42s`.
fn duration(secs: u64) -> String {
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

impl ProgressListener for ProgressView {
    fn on_progress(&self, p: &Progress) {
        match self {
            ProgressView::Silent => {}
            ProgressView::Bar(bar) => {
                let first = bar.is_hidden();
                bar.set_prefix(format!("{:?}", p.phase).to_lowercase());
                bar.set_length(p.bytes_total.max(p.bytes_done).max(1));
                bar.set_position(p.bytes_done);
                let name = p.current.rsplit('/').next().unwrap_or("");
                let eta = p
                    .eta_secs
                    .map(|s| format!(" · eta {}", duration(s)))
                    .unwrap_or_default();
                bar.set_message(format!(
                    "{}/{} files{eta} {name}",
                    p.files_done, p.files_total
                ));
                if first {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(200));
                }
            }
            ProgressView::Json(last) => {
                let Ok(mut last) = last.lock() else { return };
                let due = match *last {
                    None => true,
                    Some((t, phase)) => {
                        phase != p.phase
                            || p.phase == Phase::Finished
                            || t.elapsed() >= Duration::from_secs(1)
                    }
                };
                if !due {
                    return;
                }
                *last = Some((Instant::now(), p.phase));
                let mut line = serde_json::json!({"type": "progress"});
                if let (Some(obj), Ok(serde_json::Value::Object(fields))) =
                    (line.as_object_mut(), serde_json::to_value(p))
                {
                    obj.extend(fields);
                }
                eprintln!("{line}");
            }
            ProgressView::Lines(last) => {
                let Ok(mut last) = last.lock() else { return };
                let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
                if !due || p.phase == Phase::Finished || p.phase == Phase::Scanning {
                    return;
                }
                *last = Some(Instant::now());
                let eta = p
                    .eta_secs
                    .map(|s| format!(", eta {}", duration(s)))
                    .unwrap_or_default();
                eprintln!(
                    "{:?}: {}/{} files, {} of {} ({}/s{eta})",
                    p.phase,
                    p.files_done,
                    p.files_total,
                    bytes(p.bytes_done),
                    bytes(p.bytes_total),
                    bytes(p.bytes_per_sec as u64)
                );
            }
        }
    }
}

/// `text` cut or padded with spaces to `width` terminal columns (Chinese characters and
/// emoji take two), so table columns line up whatever the script.
pub fn cell(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    // Widths of whole prefixes, not of single characters: an emoji sequence joined by
    // U+200D (a family) is one glyph two columns wide.
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if out.width() > width {
            out.pop();
            break;
        }
    }
    let used = out.width();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// `text` padded on the left to `width` terminal columns (numbers and their headings).
pub fn cell_right(text: &str, width: usize) -> String {
    let left = cell(text, width);
    let used = unicode_width::UnicodeWidthStr::width(left.trim_end());
    format!(
        "{}{}",
        " ".repeat(width.saturating_sub(used)),
        left.trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::{cell, cell_right};

    #[test]
    fn cells_pad_by_display_width() {
        assert_eq!(cell("abc", 5), "abc  ");
        assert_eq!(cell("王芳", 5), "王芳 ");
        assert_eq!(cell("王芳王芳", 5), "王芳 ");
        assert_eq!(cell("", 2), "  ");
        assert_eq!(cell_right("消息数", 8), "  消息数");
        assert_eq!(cell_right("files", 7), "  files");
        assert_eq!(
            cell("家庭群 👨\u{200d}👩\u{200d}👧", 10),
            "家庭群 👨\u{200d}👩\u{200d}👧 "
        );
    }
}
