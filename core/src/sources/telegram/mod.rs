//! Telegram Desktop exports: JSON (`result.json`, chosen by the user) and HTML
//! (`messages.html`, `messages2.html`, …: the default), of one chat or of the whole account.
//! Both give the same messages in the same model.

pub mod json;

use std::path::Path;

use crate::error::Result;
use crate::sources::model::ChatSink;

pub use json::read_json;

/// Reads a Telegram export: a folder holding `result.json`, or the file itself.
pub(crate) fn read(path: &Path, sink: &mut dyn ChatSink) -> Result<()> {
    json::read(path, sink)
}
