//! How far an entry of a zipped export may expand when taken out: the one rule every reader
//! of zip archives (the WhatsApp reader's chat text, the HTML export's media) applies, so a
//! few megabytes of archive can never become gigabytes on disk or in time.
//!
//! Deflate reaches ~1000× on repeated bytes; real entries do not come close: chat text
//! compresses ~10×, photos, videos and voice notes ~1×.

/// Highest ratio of an entry's size to its compressed size accepted.
pub const MAX_RATIO: u64 = 200;
/// Entries up to this size are accepted at any ratio (a tiny file of repeated bytes is
/// harmless).
const SMALL: u64 = 1 << 20;

/// Why an entry of `size` bytes stored in `compressed` bytes is refused, if it is: over
/// `max` bytes, or expanding more than [`MAX_RATIO`] times (a likely zip bomb).
pub fn refusal(size: u64, compressed: u64, max: u64) -> Option<String> {
    if size > max {
        return Some(format!("it is {size} bytes, over the {max}-byte limit"));
    }
    if size > compressed.saturating_mul(MAX_RATIO).max(SMALL) {
        return Some(format!(
            "it expands from {compressed} to {size} bytes: refusing a likely zip bomb"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_entries_pass_and_bombs_do_not() {
        assert_eq!(refusal(5_000_000, 4_900_000, u64::MAX), None); // a photo
        assert_eq!(refusal(50_000_000, 5_000_000, u64::MAX), None); // chat text, 10×
        assert_eq!(refusal(1 << 20, 1000, u64::MAX), None); // small, any ratio
        assert!(refusal(3 << 30, 3 << 20, u64::MAX)
            .unwrap()
            .contains("zip bomb"));
        assert!(refusal(10, 10, 5).unwrap().contains("limit"));
    }
}
