//! Splitting files into blobs, by file kind.
//!
//! - SQLite databases are cut at their page size, so a page rewritten in place is one new
//!   blob and every untouched page deduplicates. Plain databases are recognised by their
//!   header; encrypted ones (no readable header) only when the caller states the page size.
//! - Everything else goes through FastCDC 2020 with the repository's secret seed.

use std::io::Read;

use fastcdc::v2020::{cut_gear, Normalization, MASKS};
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

/// Database pages are read this many bytes at a time.
const PAGE_READ_AHEAD: usize = 1024 * 1024;

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

/// Cuts a reader's bytes into chunks, into caller-provided buffers.
pub struct Chunker<R: Read> {
    reader: R,
    method: Chunking,
    cdc: Option<Cdc>,
    window: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

/// FastCDC 2020 state: the seeded gear tables and masks (as `fastcdc`'s own StreamCDC
/// computes them, so cut points are identical), without its per-chunk allocations.
struct Cdc {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
}

impl<R: Read> Chunker<R> {
    /// A chunker of `reader` by `method`.
    pub fn new(reader: R, method: Chunking, params: &ChunkerParams) -> Self {
        Self::with_window(reader, method, params, Vec::new())
    }

    /// A chunker reading through a recycled window buffer (see [`Chunker::into_window`]).
    pub fn with_window(
        reader: R,
        method: Chunking,
        params: &ChunkerParams,
        window: Vec<u8>,
    ) -> Self {
        let cdc = match method {
            Chunking::Cdc => {
                let bits = fastcdc::v2020::logarithm2(params.avg_size);
                let norm = Normalization::Level1.bits();
                let (gear, gear_ls) = fastcdc::v2020::get_gear_with_seed(params.seed);
                Some(Cdc {
                    min: params.min_size as usize,
                    avg: params.avg_size as usize,
                    max: params.max_size as usize,
                    mask_s: MASKS[(bits + norm) as usize],
                    mask_l: MASKS[(bits - norm) as usize],
                    gear,
                    gear_ls,
                })
            }
            Chunking::Pages(_) => None,
        };
        Chunker {
            reader,
            method,
            cdc,
            window,
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Gives back the window buffer for the next file.
    pub fn into_window(self) -> Vec<u8> {
        self.window
    }

    /// Makes the window hold at least `need` bytes past `start` (fewer only at the end of
    /// the source), reading ahead up to `cap` bytes so small pages cost few reads.
    fn fill(&mut self, need: usize, cap: usize) -> std::io::Result<()> {
        if self.end - self.start >= need || self.eof {
            return Ok(());
        }
        let cap = cap.max(need);
        if self.window.len() < cap {
            self.window.resize(cap, 0);
        }
        self.window.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < need && !self.eof {
            match self.reader.read(&mut self.window[self.end..cap]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Puts the next chunk into `out` (cleared first). Returns false at the end.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        let len = match (&self.cdc, self.method) {
            (Some(c), _) => {
                let max = c.max;
                self.fill(max, max)?;
                if self.start == self.end {
                    return Ok(false);
                }
                let c = self
                    .cdc
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("chunker state"))?;
                let (_, n) = cut_gear(
                    &self.window[self.start..self.end],
                    c.min,
                    c.avg,
                    c.max,
                    c.mask_s,
                    c.mask_l,
                    c.mask_s << 1,
                    c.mask_l << 1,
                    &c.gear,
                    &c.gear_ls,
                );
                n
            }
            (None, Chunking::Pages(size)) => {
                self.fill(size as usize, PAGE_READ_AHEAD)?;
                (size as usize).min(self.end - self.start)
            }
            (None, Chunking::Cdc) => return Err(std::io::Error::other("chunker state")),
        };
        if len == 0 {
            return Ok(false);
        }
        out.clear();
        out.extend_from_slice(&self.window[self.start..self.start + len]);
        self.start += len;
        Ok(true)
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
        let pages = all(Chunker::new(&data[..], Chunking::Pages(4096), &p));
        assert_eq!(
            pages.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![4096, 4096, 1808]
        );
        let cdc = all(Chunker::new(&data[..], Chunking::Cdc, &p));
        assert_eq!(cdc.concat(), data);
        assert!(all(Chunker::new(&b""[..], Chunking::Pages(512), &p)).is_empty());
        assert!(all(Chunker::new(&b""[..], Chunking::Cdc, &p)).is_empty());
    }

    fn all<R: Read>(mut c: Chunker<R>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while c.next_into(&mut buf).unwrap() {
            out.push(buf.clone());
        }
        out
    }

    /// Cut points are exactly those of fastcdc's StreamCDC with the same seed, read in
    /// small pieces to exercise refills.
    #[test]
    fn cut_points_match_fastcdc() {
        let mut x = 1u64;
        let data: Vec<u8> = (0..3_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let p = ChunkerParams {
            min_size: 16 * 1024,
            avg_size: 64 * 1024,
            max_size: 256 * 1024,
            seed: 0xDEADBEEF,
        };
        let theirs: Vec<usize> = fastcdc::v2020::StreamCDC::with_level_and_seed(
            &data[..],
            p.min_size,
            p.avg_size,
            p.max_size,
            Normalization::Level1,
            p.seed,
        )
        .map(|c| c.unwrap().length)
        .collect();
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                let n = b.len().min(self.0.len()).min(7777);
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let ours: Vec<usize> = all(Chunker::new(Trickle(&data), Chunking::Cdc, &p))
            .iter()
            .map(|c| c.len())
            .collect();
        assert!(ours.len() > 10);
        assert_eq!(ours, theirs);
    }
}
