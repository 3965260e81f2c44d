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
