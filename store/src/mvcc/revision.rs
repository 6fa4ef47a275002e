//! Revisions as stored: a main revision (the store revision a write
//! committed at) and a sub revision (the position of a change inside that
//! write), and their 16-byte big-endian encoding, which sorts like the pair.

/// One change's place in history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// Length of an encoded [`Revision`].
pub const REVISION_LEN: usize = 16;

impl Revision {
    pub fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// Big-endian bytes; the order of the bytes is the order of revisions
    /// (both parts are never negative).
    pub fn to_bytes(self) -> [u8; REVISION_LEN] {
        let mut out = [0u8; REVISION_LEN];
        out[..8].copy_from_slice(&self.main.to_be_bytes());
        out[8..].copy_from_slice(&self.sub.to_be_bytes());
        out
    }

    /// Parses bytes written by [`Revision::to_bytes`]; `None` for any other
    /// length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != REVISION_LEN {
            return None;
        }
        let mut main = [0u8; 8];
        let mut sub = [0u8; 8];
        main.copy_from_slice(&bytes[..8]);
        sub.copy_from_slice(&bytes[8..]);
        Some(Revision {
            main: i64::from_be_bytes(main),
            sub: i64::from_be_bytes(sub),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_sorts_like_the_pair() {
        let a = Revision::new(2, 7);
        let b = Revision::new(3, 0);
        let c = Revision::new(256, 1);
        assert_eq!(Revision::from_bytes(&a.to_bytes()), Some(a));
        assert!(a.to_bytes() < b.to_bytes());
        assert!(b.to_bytes() < c.to_bytes());
        assert_eq!(Revision::from_bytes(&[0u8; 3]), None);
    }
}
