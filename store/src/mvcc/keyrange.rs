//! The key interval of a request, decoded once from etcd's `key` /
//! `range_end` convention: empty end = one key, `"\0"` end = every key from
//! `key` on, otherwise `[key, range_end)`.

use std::ops::Bound;

/// Lower and upper bound of a key interval, for `BTreeMap::range`.
pub type Bounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRange<'a> {
    /// Exactly one key.
    Single(&'a [u8]),
    /// Every key `>= start`.
    From(&'a [u8]),
    /// `[start, end)`, with `start < end`.
    Between(&'a [u8], &'a [u8]),
    /// An end at or before the start: matches nothing.
    Empty,
}

impl<'a> KeyRange<'a> {
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::From(key),
            end if end > key => KeyRange::Between(key, end),
            _ => KeyRange::Empty,
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        match *self {
            KeyRange::Single(k) => key == k,
            KeyRange::From(start) => key >= start,
            KeyRange::Between(start, end) => key >= start && key < end,
            KeyRange::Empty => false,
        }
    }

    /// Bounds for `BTreeMap::range`; `None` when nothing can match.
    pub fn bounds(&self) -> Option<Bounds<'a>> {
        match *self {
            KeyRange::Single(k) => Some((Bound::Included(k), Bound::Included(k))),
            KeyRange::From(start) => Some((Bound::Included(start), Bound::Unbounded)),
            KeyRange::Between(start, end) => Some((Bound::Included(start), Bound::Excluded(end))),
            KeyRange::Empty => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_etcd_range_conventions() {
        assert_eq!(KeyRange::new(b"a", b""), KeyRange::Single(b"a"));
        assert_eq!(KeyRange::new(b"a", b"\0"), KeyRange::From(b"a"));
        assert_eq!(KeyRange::new(b"a", b"c"), KeyRange::Between(b"a", b"c"));
        assert_eq!(KeyRange::new(b"c", b"a"), KeyRange::Empty);
        assert!(KeyRange::new(b"\0", b"\0").contains(b"anything"));
        assert!(!KeyRange::new(b"a", b"c").contains(b"c"));
    }
}
