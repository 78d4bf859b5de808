//! Messages of a resumed index's export waiting to be placed (no cursor matched them:
//! new, or streamed out of the order of last time): written to an unlinked temporary file,
//! so memory stays flat however many wait, and read back in order.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::source_rows::SourceRow;
use crate::error::{Error, Result};
use crate::sources::model::Message;

/// A message waiting, with the source row it was read from, if the reader named one.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    row: Option<SourceRow>,
    message: Message,
}

/// Messages waiting, in the order they came.
pub(crate) struct Waiting {
    file: Option<BufWriter<File>>,
    count: u64,
    work_dir: Option<PathBuf>,
}

impl Waiting {
    /// None yet; the file goes to `work_dir` once one comes.
    pub(crate) fn new(work_dir: Option<&Path>) -> Waiting {
        Waiting {
            file: None,
            count: 0,
            work_dir: work_dir.map(Path::to_path_buf),
        }
    }

    fn folder(&self) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// How many wait.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds one.
    pub(crate) fn push(&mut self, m: Message, row: Option<SourceRow>) -> Result<()> {
        let folder = self.folder();
        let io = |e| Error::io("write a temporary file in", &folder, e);
        if self.file.is_none() {
            let f = match &self.work_dir {
                Some(d) => tempfile::tempfile_in(d),
                None => tempfile::tempfile(),
            }
            .map_err(io)?;
            self.file = Some(BufWriter::with_capacity(64 * 1024, f));
        }
        let w = self.file.as_mut().expect("made above");
        let entry = Entry { row, message: m };
        serde_json::to_writer(&mut *w, &entry)
            .map_err(|e| Error::internal_from("write a waiting message", e))?;
        w.write_all(b"\n").map_err(io)?;
        self.count += 1;
        Ok(())
    }

    /// Takes the messages waiting (leaving none), to read them back in order.
    pub(crate) fn take(&mut self) -> Waiting {
        let work_dir = self.work_dir.clone();
        std::mem::replace(self, Waiting::new(work_dir.as_deref()))
    }

    /// The messages, in the order they came.
    pub(crate) fn drain(
        self,
    ) -> Result<impl Iterator<Item = Result<(Message, Option<SourceRow>)>>> {
        let folder = self.folder();
        let io = |e| Error::io("read a temporary file in", &folder, e);
        let file = match self.file {
            Some(w) => {
                let mut f = w.into_inner().map_err(|e| io(e.into_error()))?;
                f.seek(SeekFrom::Start(0)).map_err(io)?;
                Some(f)
            }
            None => None,
        };
        Ok(file.into_iter().flat_map(|f| {
            serde_json::Deserializer::from_reader(BufReader::with_capacity(64 * 1024, f))
                .into_iter::<Entry>()
                .map(|r| {
                    r.map(|e| (e.message, e.row))
                        .map_err(|e| Error::internal_from("read a waiting message", e))
                })
        }))
    }
}
