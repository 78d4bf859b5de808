//! The protobuf wire format, read field by field without a schema: WhatsApp's backup
//! headers (crypt14/15) and the blobs of its iPhone database (a message's quote in
//! `ZMETADATA`, reactions in `ZRECEIPTINFO`), WeChat for iPhone's contact blobs and
//! `LoginInfo2.dat` are protobuf messages of which only a few fields matter, whose full
//! schemas are not public and change between versions.

/// A field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 2: bytes, a string or an embedded message.
    Bytes(&'a [u8]),
    /// Wire types 1 and 5.
    Fixed,
}

/// The fields of a message, in order: `(number, value)`. Ends at the first malformed
/// field, which it yields as an error.
pub struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    /// The fields of `msg`.
    pub fn new(msg: &'a [u8]) -> Self {
        Fields {
            rest: msg,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        match read_varint(self.rest) {
            Some((v, rest)) => {
                self.rest = rest;
                Ok(v)
            }
            None if self.rest.len() < 10 => Err("a field is cut off".into()),
            None => Err("a number is too long".into()),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err("a field is cut off".into());
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err("a field has number 0".into());
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "a length overflows")?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            t => return Err(format!("a field has wire type {t} (not protobuf)")),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.field();
        self.failed = r.is_err();
        Some(r)
    }
}

/// The last bytes value of field `n` of `msg` (protobuf's rule: the last one wins).
pub fn last_bytes(msg: &[u8], n: u64) -> Result<Option<&[u8]>, String> {
    let mut found = None;
    for field in Fields::new(msg) {
        if let (k, Value::Bytes(b)) = field? {
            if k == n {
                found = Some(b);
            }
        }
    }
    Ok(found)
}

/// Field `path[0]` of `msg`, then field `path[1]` of that, …: the bytes at the end, if
/// every step is there and well formed.
pub fn bytes_at<'a>(msg: &'a [u8], path: &[u64]) -> Option<&'a [u8]> {
    let mut cur = msg;
    for &n in path {
        cur = last_bytes(cur, n).ok()??;
    }
    Some(cur)
}

/// Every bytes value of field `n` of `msg`, in order (a repeated field); stops at a
/// malformed field.
pub fn all_bytes(msg: &[u8], n: u64) -> Vec<&[u8]> {
    Fields::new(msg)
        .map_while(Result::ok)
        .filter_map(|(k, v)| match v {
            Value::Bytes(b) if k == n => Some(b),
            _ => None,
        })
        .collect()
}

/// A varint at the start of `buf` (outside any field: some files prefix records with their
/// length) and the bytes after it; `None` when cut off or longer than 10 bytes.
pub fn read_varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &buf[i + 1..]));
        }
    }
    None
}

/// The last varint of field `n` of `msg`.
pub fn varint(msg: &[u8], n: u64) -> Option<u64> {
    Fields::new(msg)
        .map_while(Result::ok)
        .filter_map(|(k, v)| match v {
            Value::Varint(x) if k == n => Some(x),
            _ => None,
        })
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_repeated_fields_are_found_and_garbage_is_not() {
        // {5: "ABC", 7: {1: {2: "j", 3: "👍"}, 1: {3: "x"}}, 9: 300}
        let inner1 = [0x12, 1, b'j', 0x1a, 4, 0xf0, 0x9f, 0x91, 0x8d];
        let inner2 = [0x1a, 1, b'x'];
        let mut seven = vec![0x0a, inner1.len() as u8];
        seven.extend_from_slice(&inner1);
        seven.extend_from_slice(&[0x0a, inner2.len() as u8]);
        seven.extend_from_slice(&inner2);
        let mut msg = vec![0x2a, 3, b'A', b'B', b'C', 0x3a, seven.len() as u8];
        msg.extend_from_slice(&seven);
        msg.extend_from_slice(&[0x48, 0xac, 0x02]);
        assert_eq!(bytes_at(&msg, &[5]), Some(&b"ABC"[..]));
        let sevens = all_bytes(bytes_at(&msg, &[7]).unwrap(), 1);
        assert_eq!(sevens.len(), 2);
        assert_eq!(bytes_at(sevens[0], &[3]), Some("👍".as_bytes()));
        assert_eq!(varint(&msg, 9), Some(300));
        assert_eq!(bytes_at(&msg, &[7, 1, 9]), None);
        for bad in [
            &[0x2a, 50, 1][..],
            &[0xff; 12][..],
            &[0x07][..],
            &[0x00, 1][..],
        ] {
            assert_eq!(bytes_at(bad, &[5]), None);
            assert!(Fields::new(bad).any(|f| f.is_err()));
        }
    }
}
