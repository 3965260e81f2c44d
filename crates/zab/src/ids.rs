//! Identifiers shared by every crate: server ids, client ids, zxids and network endpoints.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A server's `myid`, as in zoo.cfg `server.N`. Valid ids are 1..=255; 0 is never a real
/// server and stands for "no candidate", the role `Long.MIN_VALUE` plays in FastLeaderElection
/// for observers' initial votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerId(pub u8);

impl ServerId {
    /// The "no candidate" sentinel: it has no voting weight, so it never wins an election.
    pub const NONE: ServerId = ServerId(0);
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A set of servers as one bit per possible id: a proposal's ACKs, a commit's quorum. Copying
/// it allocates nothing, which matters because every proposal carries one. Iterates in id
/// order, like the `BTreeSet` it stands in for.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ServerSet([u64; 4]);

impl ServerSet {
    pub fn new() -> ServerSet {
        ServerSet::default()
    }

    fn bit(id: ServerId) -> (usize, u64) {
        (usize::from(id.0 >> 6), 1 << (id.0 & 63))
    }

    /// Adds `id`; true if it was not there.
    pub fn insert(&mut self, id: ServerId) -> bool {
        let (w, b) = Self::bit(id);
        let new = self.0[w] & b == 0;
        self.0[w] |= b;
        new
    }

    /// Removes `id`; true if it was there.
    pub fn remove(&mut self, id: ServerId) -> bool {
        let (w, b) = Self::bit(id);
        let had = self.0[w] & b != 0;
        self.0[w] &= !b;
        had
    }

    pub fn contains(&self, id: ServerId) -> bool {
        let (w, b) = Self::bit(id);
        self.0[w] & b != 0
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, bits)| {
            let mut rest = *bits;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let i = rest.trailing_zeros();
                rest &= rest - 1;
                Some(ServerId((w as u32 * 64 + i) as u8))
            })
        })
    }
}

impl FromIterator<ServerId> for ServerSet {
    fn from_iter<I: IntoIterator<Item = ServerId>>(ids: I) -> ServerSet {
        let mut set = ServerSet::new();
        for id in ids {
            set.insert(id);
        }
        set
    }
}

impl fmt::Debug for ServerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for ServerSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// A client process of the simulation, numbered from 1 (`c1`, `c2`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u32);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Anything that can hold a connection: servers and clients are both network endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Endpoint {
    Server(ServerId),
    Client(ClientId),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Server(s) => s.fmt(f),
            Endpoint::Client(c) => c.fmt(f),
        }
    }
}

/// ZooKeeper's transaction id: the epoch in the high 32 bits, a counter in the low 32 bits
/// (`ZxidUtils.makeZxid`). Ordering is numeric, hence epoch first.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Zxid(pub u64);

impl Zxid {
    /// Largest counter value; `Leader.propose` refuses to hand it out (ZOOKEEPER-1277).
    pub const COUNTER_MAX: u64 = 0xffff_ffff;

    pub fn new(epoch: u64, counter: u64) -> Zxid {
        Zxid((epoch << 32) | (counter & Self::COUNTER_MAX))
    }
    pub fn epoch(self) -> u64 {
        self.0 >> 32
    }
    pub fn counter(self) -> u64 {
        self.0 & Self::COUNTER_MAX
    }

    /// As ZooKeeper's logs and tools print it: `0x500000003`.
    pub fn hex(self) -> String {
        format!("{:#x}", self.0)
    }

    /// Reads `5:3` (epoch:counter, as zabsim prints it), `0x500000003` (as ZooKeeper
    /// prints it) or `21474836483` (the 64-bit value).
    pub fn parse(s: &str) -> Option<Zxid> {
        let s = s.trim();
        if let Some((e, c)) = s.split_once(':') {
            let (e, c) = (e.trim().parse::<u64>().ok()?, c.trim().parse::<u64>().ok()?);
            return (e <= Self::COUNTER_MAX && c <= Self::COUNTER_MAX).then(|| Zxid::new(e, c));
        }
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok().map(Zxid),
            None => s.parse().ok().map(Zxid),
        }
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch(), self.counter())
    }
}

/// The channel a connection belongs to. ZooKeeper keeps elections (QuorumCnxManager, the
/// election port) and the quorum protocol (Learner/LearnerHandler, the quorum port) on separate
/// TCP connections, so a reset of one does not break the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Channel {
    Election,
    Quorum,
    Client,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn zxids_read_and_print_in_both_notations() {
        let z = Zxid::new(5, 3);
        assert_eq!(
            (z.to_string(), z.hex()),
            ("5:3".into(), "0x500000003".into())
        );
        for text in [
            "5:3",
            "0x500000003",
            "0X500000003",
            "21474836483",
            " 5 : 3 ",
        ] {
            assert_eq!(Zxid::parse(text), Some(z), "{text}");
        }
        assert_eq!(Zxid(0).hex(), "0x0");
        for bad in ["", "5:", "x", "0xg", "4294967296:0", "1:4294967296"] {
            assert_eq!(Zxid::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn server_set_behaves_as_an_ordered_set_of_ids() {
        let ids = [200u8, 3, 64, 1, 255, 63, 3];
        let set: ServerSet = ids.iter().map(|i| ServerId(*i)).collect();
        let tree: BTreeSet<ServerId> = ids.iter().map(|i| ServerId(*i)).collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            tree.iter().copied().collect::<Vec<_>>()
        );
        assert_eq!(set.len(), 6);
        assert!(set.contains(ServerId(64)) && !set.contains(ServerId(65)));
        let mut s = set;
        assert!(s.remove(ServerId(64)) && !s.remove(ServerId(64)));
        assert!(!s.insert(ServerId(3)) && s.insert(ServerId(0)));
        assert_eq!(
            format!("{:?}", ServerSet::from_iter([ServerId(2), ServerId(1)])),
            "{ServerId(1), ServerId(2)}"
        );
        assert!(ServerSet::new().is_empty());
    }
}
