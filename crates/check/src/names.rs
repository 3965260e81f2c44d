//! The invariant names of DESIGN.md: the contract that `[expect] violations`, `--json` and the
//! report use. Checkers that exist report under these names; names without a checker yet are
//! still valid in scenarios so that the contract never shrinks.

/// Whether an invariant is checked after every event or once the faults have stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Safety,
    Liveness,
}

/// One row of the invariant table.
#[derive(Clone, Copy, Debug)]
pub struct InvariantInfo {
    pub name: &'static str,
    pub kind: Kind,
    pub meaning: &'static str,
}

/// Every invariant of the contract, in DESIGN.md's order.
pub const INVARIANTS: &[InvariantInfo] = &[
    info(Kind::Safety, "leadership", "at most one server establishes leadership per epoch"),
    info(Kind::Safety, "prefix-consistency", "the delivered sequences of any two servers are prefixes of one another"),
    info(Kind::Safety, "integrity", "every delivered txn was proposed by an established leader for a client request"),
    info(Kind::Safety, "total-order", "if a server delivers a before b, every server that delivers b delivers a first"),
    info(Kind::Safety, "primary-order", "a leader's txns are delivered in proposal order; txns of epoch e before those of e' > e"),
    info(Kind::Safety, "primary-integrity", "a leader delivers every txn committed in earlier epochs before it broadcasts"),
    info(Kind::Safety, "committed-durability", "a committed txn survives leader failover: every later established leader has it, and no server truncates it"),
    info(Kind::Safety, "abandoned-skipped", "a proposal missing from the history of the leader that establishes a newer epoch is never delivered afterwards"),
    info(Kind::Safety, "history-consistency", "in BROADCAST, a follower's logged history is a prefix of its leader's"),
    info(Kind::Safety, "durable-ack", "no ACK, ACKEPOCH or NEWLEADER ack leaves a server before what it vouches for is durable"),
    info(Kind::Safety, "epoch-order", "on every disk currentEpoch <= acceptedEpoch, neither decreases, and no logged zxid is from a later epoch than currentEpoch once synced"),
    info(Kind::Safety, "zxid-order", "a leader's zxids strictly increase, carry its epoch, and the counter never overflows into the epoch"),
    info(Kind::Safety, "protocol-error", "a server reached a state ZooKeeper treats as impossible"),
    info(Kind::Safety, "linearizable-writes", "acknowledged writes form one order consistent with real time; an acknowledged write is never lost"),
    info(Kind::Safety, "session-order", "a session's operations take effect in issue order, and its reads never go back in time"),
    info(Kind::Safety, "ephemeral-cleanup", "once a session expires or closes, its ephemeral znodes are gone, in one txn, on every server"),
    info(Kind::Safety, "watch-order", "a client sees a watch event before any read result that reflects the change"),
    info(Kind::Safety, "recipe-safety", "recipes keep their promise: one election-recipe leader and one lock holder among live sessions, unique sequence ids"),
    info(Kind::Liveness, "election-liveness", "once a quorum of voting servers is up and connected, a leader is established within liveness_ms"),
    info(Kind::Liveness, "progress", "after recovery every pending client operation is answered and new writes commit"),
];

const fn info(kind: Kind, name: &'static str, meaning: &'static str) -> InvariantInfo {
    InvariantInfo {
        name,
        kind,
        meaning,
    }
}

/// Looks an invariant up by its contract name.
pub fn invariant(name: &str) -> Option<&'static InvariantInfo> {
    INVARIANTS.iter().find(|i| i.name == name)
}
