//! A small IPv4 address allocator over one CIDR (the node's pod range),
//! used by the simulated runtime. The network and broadcast addresses and
//! the first host address (the bridge gateway, as host-local reserves it)
//! are never handed out.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IpamError {
    #[error("invalid CIDR {0:?}")]
    InvalidCidr(String),
    #[error("no free address left in {0}")]
    Exhausted(String),
}

/// Free and used addresses of one IPv4 CIDR.
#[derive(Debug)]
pub struct Ipv4Pool {
    cidr: String,
    first: u32,
    last: u32,
    next: u32,
    used: BTreeSet<u32>,
}

/// Parses `a.b.c.d/len` into (network address, prefix length).
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8), IpamError> {
    let bad = || IpamError::InvalidCidr(cidr.to_string());
    let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 30 {
        return Err(bad());
    }
    let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
    Ok((Ipv4Addr::from(u32::from(addr) & mask), len))
}

impl Ipv4Pool {
    pub fn new(cidr: &str) -> Result<Self, IpamError> {
        let (net, len) = parse_cidr(cidr)?;
        let base = u32::from(net);
        let size = 1u32 << (32 - len as u32);
        Ok(Ipv4Pool {
            cidr: cidr.to_string(),
            first: base + 2,
            last: base + size - 2,
            next: base + 2,
            used: BTreeSet::new(),
        })
    }

    /// The next free address, round-robin (a released address is reused
    /// only after the others, like host-local).
    pub fn allocate(&mut self) -> Result<Ipv4Addr, IpamError> {
        let span = self.last - self.first + 1;
        for _ in 0..span {
            let candidate = self.next;
            self.next = if self.next >= self.last {
                self.first
            } else {
                self.next + 1
            };
            if self.used.insert(candidate) {
                return Ok(Ipv4Addr::from(candidate));
            }
        }
        Err(IpamError::Exhausted(self.cidr.clone()))
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&u32::from(ip));
    }
}

/// The /24 of simulated node `index` inside 10.128.0.0/9 (up to 32 768
/// nodes), so simulated pod IPs never collide across nodes.
pub fn simulated_node_cidr(index: u32) -> String {
    format!("10.{}.{}.0/24", 128 + (index / 256) % 128, index % 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_skipping_network_gateway_and_broadcast() {
        let mut pool = Ipv4Pool::new("10.88.0.0/30").unwrap();
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 88, 0, 2));
        assert_eq!(
            pool.allocate(),
            Err(IpamError::Exhausted("10.88.0.0/30".into()))
        );
        pool.release(Ipv4Addr::new(10, 88, 0, 2));
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 88, 0, 2));
    }

    #[test]
    fn round_robin_and_bad_input() {
        let mut pool = Ipv4Pool::new("10.88.0.0/16").unwrap();
        let a = pool.allocate().unwrap();
        pool.release(a);
        assert_ne!(pool.allocate().unwrap(), a);
        assert!(Ipv4Pool::new("10.88.0.0").is_err());
        assert!(Ipv4Pool::new("10.88.0.0/31").is_err());
        assert_eq!(simulated_node_cidr(257), "10.129.1.0/24");
    }
}
