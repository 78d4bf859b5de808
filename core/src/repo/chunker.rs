//! Splitting files into blobs, by file kind.
//!
//! - SQLite databases are cut at their page size, so a page rewritten in place is one new
//!   blob and every untouched page deduplicates. Plain databases are recognised by their
//!   header; encrypted ones (no readable header) only when the caller states the page size.
//! - Everything else goes through FastCDC 2020 with the repository's secret seed.

use std::io::Read;

use fastcdc::v2020::{Normalization, StreamCDC};
use serde::{Deserialize, Serialize};

use super::config::ChunkerParams;

/// How a file's content was cut. Recorded per file in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "method", content = "size")]
pub enum Chunking {
    /// Content-defined chunks.
    Cdc,
    /// Fixed pages of this many bytes (the last may be shorter).
    Pages(u32),
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The page size of a plain SQLite database, from its 100-byte header.
pub fn sqlite_page_size(head: &[u8]) -> Option<u32> {
    if head.len() < 18 || &head[..16] != SQLITE_MAGIC {
        return None;
    }
    let raw = u16::from_be_bytes([head[16], head[17]]) as u32;
    let size = if raw == 1 { 65536 } else { raw };
    (size >= 512 && size.is_power_of_two()).then_some(size)
}

/// A stream of chunks from a reader.
pub enum Chunker<R: Read> {
    /// FastCDC.
    Cdc(StreamCDC<R>),
    /// Fixed pages.
    Pages {
        /// Source.
        reader: R,
        /// Page size.
        size: usize,
        /// Set after EOF.
        done: bool,
    },
}

impl<R: Read> Chunker<R> {
    /// A chunker of `reader` by `method`.
    pub fn new(reader: R, method: Chunking, params: &ChunkerParams) -> Self {
        match method {
            Chunking::Cdc => Chunker::Cdc(StreamCDC::with_level_and_seed(
                reader,
                params.min_size,
                params.avg_size,
                params.max_size,
                Normalization::Level1,
                params.seed,
            )),
            Chunking::Pages(size) => Chunker::Pages {
                reader,
                size: size as usize,
                done: false,
            },
        }
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Chunker::Cdc(c) => c
                .next()
                .map(|r| r.map(|c| c.data).map_err(std::io::Error::from)),
            Chunker::Pages { reader, size, done } => {
                if *done {
                    return None;
                }
                let mut buf = vec![0u8; *size];
                let mut filled = 0;
                while filled < buf.len() {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Some(Err(e)),
                    }
                }
                if filled < buf.len() {
                    *done = true;
                    buf.truncate(filled);
                }
                (!buf.is_empty()).then_some(Ok(buf))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_sqlite_page_sizes() {
        let mut h = SQLITE_MAGIC.to_vec();
        h.extend_from_slice(&4096u16.to_be_bytes());
        assert_eq!(sqlite_page_size(&h), Some(4096));
        h[16..18].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(sqlite_page_size(&h), Some(65536));
        h[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert_eq!(sqlite_page_size(&h), None);
        assert_eq!(sqlite_page_size(b"not a db"), None);
    }

    #[test]
    fn pages_cover_the_file_exactly() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let p = ChunkerParams {
            min_size: 64,
            avg_size: 256,
            max_size: 1024,
            seed: 1,
        };
        let pages: Vec<_> = Chunker::new(&data[..], Chunking::Pages(4096), &p)
            .map(|c| c.unwrap())
            .collect();
        assert_eq!(
            pages.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![4096, 4096, 1808]
        );
        let cdc: Vec<u8> = Chunker::new(&data[..], Chunking::Cdc, &p)
            .flat_map(|c| c.unwrap())
            .collect();
        assert_eq!(cdc, data);
        assert_eq!(Chunker::new(&b""[..], Chunking::Pages(512), &p).count(), 0);
    }
}
