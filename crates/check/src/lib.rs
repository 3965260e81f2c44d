//! Invariant checkers for zabsim.
//!
//! Every checker sees every simulation [`Happening`], in order, with a read-only [`View`] of all
//! servers (volatile and durable state). Safety checkers report the event at which a property
//! breaks and keep only the state they need to stay incremental; liveness checkers act on
//! [`Happening::LivenessDeadline`], once the faults have stopped and `liveness_ms` has passed.
//!
//! | invariant | module |
//! |---|---|
//! | `leadership` | [`leadership`] |
//! | `prefix-consistency` | [`prefix_consistency`] |
//! | `integrity` | [`integrity`] |
//! | `total-order` | [`total_order`] |
//! | `primary-order` | [`primary_order`] |
//! | `primary-integrity` | [`primary_integrity`] |
//! | `committed-durability` | [`committed_durability`] |
//! | `abandoned-skipped` | [`abandoned_skipped`] |
//! | `history-consistency` | [`history_consistency`] |
//! | `durable-ack` | [`durable_ack`] |
//! | `epoch-order` | [`epoch_order`] |
//! | `zxid-order` | [`zxid_order`] |
//! | `protocol-error` | [`protocol_error`] |
//! | `linearizable-writes` | [`linearizable_writes`] |
//! | `session-order` | [`session_order`] |
//! | `ephemeral-cleanup` | [`ephemeral_cleanup`] |
//! | `watch-order` | [`watch_order`] |
//! | `recipe-safety` | [`recipe_safety`] |
//! | `election-liveness` | [`election_liveness`] |
//! | `progress` | [`progress`] |

pub mod abandoned_skipped;
pub(crate) mod clients;
pub mod committed_durability;
pub(crate) mod committed_ops;
pub mod delivery;
pub mod durable_ack;
pub mod election_liveness;
pub mod ephemeral_cleanup;
pub mod epoch_order;
pub(crate) mod history;
pub mod history_consistency;
pub mod integrity;
pub mod leadership;
pub mod linearizable_writes;
pub mod names;
pub mod prefix_consistency;
pub mod primary_integrity;
pub mod primary_order;
pub mod progress;
pub mod protocol_error;
pub mod recipe_safety;
pub mod recorded;
pub mod session_order;
pub mod total_order;
pub(crate) mod txn_map;
pub(crate) mod txn_runs;
pub mod view;
pub mod watch_order;
pub(crate) mod znodes;
pub mod zxid_order;

#[cfg(test)]
pub(crate) mod client_script;
#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
pub(crate) mod script;

pub use delivery::{Deliveries, Delivery};
pub use names::{invariant, InvariantInfo, Kind, INVARIANTS};
pub use view::{ServerView, View};
pub use zab::client_api::ClientEvent;

use serde::Serialize;
use zab::{DiskOp, Endpoint, Message, ServerId};

/// One broken promise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Contract name from [`INVARIANTS`].
    pub invariant: &'static str,
    /// Simulated time, microseconds.
    pub at_us: u64,
    /// The server the violation is about, where one applies.
    pub server: Option<ServerId>,
    /// What happened and why it breaks the invariant.
    pub message: String,
}

/// What the simulator tells checkers about, in order.
#[derive(Clone, Copy, Debug)]
pub enum Happening<'a> {
    /// A server reported a protocol event.
    Server {
        id: ServerId,
        event: &'a zab::Event,
    },
    /// A message is about to leave `from`.
    Send {
        from: Endpoint,
        to: Endpoint,
        msg: &'a Message,
    },
    /// A message is about to be handed to `to`.
    Deliver {
        from: Endpoint,
        to: Endpoint,
        msg: &'a Message,
    },
    /// A server started a durable write.
    DiskIssued {
        id: ServerId,
        op: &'a DiskOp,
    },
    /// A durable write completed.
    DiskDurable {
        id: ServerId,
        op: &'a DiskOp,
    },
    Crash {
        id: ServerId,
    },
    Restart {
        id: ServerId,
    },
    Pause {
        id: ServerId,
    },
    Resume {
        id: ServerId,
    },
    /// A simulated client reported something (its library, its recipe program, or the
    /// simulator about the client process).
    Client {
        id: zab::ClientId,
        event: &'a ClientEvent,
    },
    /// Partitions changed.
    Network,
    /// Before anything else: the scenario declares every initial txn (proposer
    /// `ServerId::NONE`) up to `upto` committed (`[cluster] committed`).
    InitiallyCommitted {
        upto: zab::Zxid,
    },
    /// `liveness_ms` after the last fault ended (at `faults_over_us`).
    LivenessDeadline {
        faults_over_us: u64,
    },
}

/// The kinds of [`Happening`]: each protocol event's kind ([`zab::EventKind`], derived from
/// [`zab::Event`]), each packet's kind as it is sent and as it is delivered
/// ([`zab::MessageKind`], derived from [`zab::Message`]), and the simulator's own happenings.
/// What a checker can ask to be shown (see [`Checker::interest`]). Proposals, commits, acks and
/// pings are most of what a run sends, and the checkers that read traffic want one or two
/// packets of it: a kind per packet lets the rest pass them by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HappeningKind {
    Server(zab::EventKind),
    Send(zab::MessageKind),
    Deliver(zab::MessageKind),
    DiskIssued,
    DiskDurable,
    Crash,
    Restart,
    Pause,
    Resume,
    Client,
    Network,
    InitiallyCommitted,
    LivenessDeadline,
}

/// How many protocol event kinds and packet kinds there are.
const EVENTS: usize = <zab::EventKind as strum::EnumCount>::COUNT;
const PACKETS: usize = <zab::MessageKind as strum::EnumCount>::COUNT;

impl HappeningKind {
    /// The kinds that are neither a server event nor a packet, numbered after those.
    const OTHERS: [HappeningKind; 10] = [
        HappeningKind::DiskIssued,
        HappeningKind::DiskDurable,
        HappeningKind::Crash,
        HappeningKind::Restart,
        HappeningKind::Pause,
        HappeningKind::Resume,
        HappeningKind::Client,
        HappeningKind::Network,
        HappeningKind::InitiallyCommitted,
        HappeningKind::LivenessDeadline,
    ];
    /// How many kinds there are; every kind's [`HappeningKind::index`] is below this.
    pub const COUNT: usize = EVENTS + 2 * PACKETS + Self::OTHERS.len();

    /// The kind as a number: server events first, in [`zab::Event`]'s order, then packets sent
    /// and packets delivered, in [`zab::Message`]'s order, then the others.
    pub const fn index(self) -> usize {
        let others = EVENTS + 2 * PACKETS;
        match self {
            HappeningKind::Server(k) => k as usize,
            HappeningKind::Send(m) => EVENTS + m as usize,
            HappeningKind::Deliver(m) => EVENTS + PACKETS + m as usize,
            HappeningKind::DiskIssued => others,
            HappeningKind::DiskDurable => others + 1,
            HappeningKind::Crash => others + 2,
            HappeningKind::Restart => others + 3,
            HappeningKind::Pause => others + 4,
            HappeningKind::Resume => others + 5,
            HappeningKind::Client => others + 6,
            HappeningKind::Network => others + 7,
            HappeningKind::InitiallyCommitted => others + 8,
            HappeningKind::LivenessDeadline => others + 9,
        }
    }

    /// Every kind, in numbering order.
    pub fn all() -> impl Iterator<Item = HappeningKind> {
        let packets = <zab::MessageKind as strum::VariantArray>::VARIANTS;
        <zab::EventKind as strum::VariantArray>::VARIANTS
            .iter()
            .map(|k| HappeningKind::Server(*k))
            .chain(packets.iter().map(|m| HappeningKind::Send(*m)))
            .chain(packets.iter().map(|m| HappeningKind::Deliver(*m)))
            .chain(Self::OTHERS)
    }
}

// An Interest holds one bit per kind.
const _: () = assert!(HappeningKind::COUNT <= 128);

impl Happening<'_> {
    pub fn kind(&self) -> HappeningKind {
        use HappeningKind as K;
        match self {
            Happening::Server { event, .. } => K::Server(zab::EventKind::from(*event)),
            Happening::Send { msg, .. } => K::Send(zab::MessageKind::from(*msg)),
            Happening::Deliver { msg, .. } => K::Deliver(zab::MessageKind::from(*msg)),
            Happening::DiskIssued { .. } => K::DiskIssued,
            Happening::DiskDurable { .. } => K::DiskDurable,
            Happening::Crash { .. } => K::Crash,
            Happening::Restart { .. } => K::Restart,
            Happening::Pause { .. } => K::Pause,
            Happening::Resume { .. } => K::Resume,
            Happening::Client { .. } => K::Client,
            Happening::Network => K::Network,
            Happening::InitiallyCommitted { .. } => K::InitiallyCommitted,
            Happening::LivenessDeadline { .. } => K::LivenessDeadline,
        }
    }
}

/// A set of happening kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(u128);

impl Interest {
    pub const ALL: Interest = Interest(u128::MAX);

    pub const fn of(kinds: &[HappeningKind]) -> Interest {
        let mut bits = 0u128;
        let mut i = 0;
        while i < kinds.len() {
            bits |= 1 << kinds[i].index();
            i += 1;
        }
        Interest(bits)
    }

    pub const fn union(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    pub const fn contains(self, kind: HappeningKind) -> bool {
        self.0 & (1 << kind.index()) != 0
    }
}

/// What [`history::newly_delivered`] reads: a delivery checker must see these.
pub(crate) const DELIVERIES: Interest =
    Interest::of(&[HappeningKind::Server(zab::EventKind::Delivered)]);

/// An invariant checker.
pub trait Checker {
    /// The contract name it reports under.
    fn name(&self) -> &'static str;
    /// Looks at one happening; pushes violations, if any.
    fn on(&mut self, happening: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>);
    /// The kinds of happening `on` acts on. The simulator shows a checker only these, so `on`
    /// must neither change state nor report anything for the others: most checkers care about
    /// a handful of the dozens of happenings per event, and being called for the rest costs
    /// more than all their real work. The default, every kind, is always correct.
    fn interest(&self) -> Interest {
        Interest::ALL
    }
    /// The situations this checker has judged so far, each with how often: the branches on
    /// which it could fire. Every one is listed, reached or not, always in the same order, so
    /// that a sweep can show which ones it never exercised.
    fn paths(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// How often a checker judged the situation `name`; panics if it lists no such path.
#[cfg(test)]
pub(crate) fn path_count(c: &dyn Checker, name: &str) -> u64 {
    let paths = c.paths();
    match paths.iter().find(|(n, _)| *n == name) {
        Some((_, count)) => *count,
        None => panic!("{} lists no path {name:?}: {paths:?}", c.name()),
    }
}

/// A fresh checker lists at least one path, and every one at 0.
#[cfg(test)]
pub(crate) fn assert_fresh(c: &dyn Checker) {
    let paths = c.paths();
    assert!(!paths.is_empty(), "{} lists no path", c.name());
    assert!(
        paths.iter().all(|(_, count)| *count == 0),
        "{}: {paths:?}",
        c.name()
    );
}

/// Every checker that exists, fresh for one run.
pub fn all_checkers() -> Vec<Box<dyn Checker>> {
    vec![
        Box::new(leadership::Leadership::default()),
        Box::new(prefix_consistency::PrefixConsistency::default()),
        Box::new(integrity::Integrity::default()),
        Box::new(total_order::TotalOrder::default()),
        Box::new(primary_order::PrimaryOrder::default()),
        Box::new(primary_integrity::PrimaryIntegrity::default()),
        Box::new(committed_durability::CommittedDurability::default()),
        Box::new(abandoned_skipped::AbandonedSkipped::default()),
        Box::new(history_consistency::HistoryConsistency::default()),
        Box::new(durable_ack::DurableAck::default()),
        Box::new(epoch_order::EpochOrder::default()),
        Box::new(zxid_order::ZxidOrder::default()),
        Box::new(protocol_error::ProtocolError::default()),
        Box::new(linearizable_writes::LinearizableWrites::default()),
        Box::new(session_order::SessionOrder::default()),
        Box::new(ephemeral_cleanup::EphemeralCleanup::default()),
        Box::new(watch_order::WatchOrder::default()),
        Box::new(recipe_safety::RecipeSafety::default()),
        Box::new(election_liveness::ElectionLiveness::default()),
        Box::new(progress::Progress::default()),
    ]
}

/// Names of the invariants that have a checker (the others are accepted in scenarios but
/// cannot fire yet).
pub fn checked_invariants() -> Vec<&'static str> {
    all_checkers().iter().map(|c| c.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_in_numbering_order() {
        let all: Vec<HappeningKind> = HappeningKind::all().collect();
        assert_eq!(all.len(), HappeningKind::COUNT);
        for (i, k) in all.iter().enumerate() {
            assert_eq!(k.index(), i, "{k:?}");
        }
    }

    #[test]
    fn every_checker_lists_its_paths_once_each_and_fresh_at_zero() {
        for c in all_checkers() {
            assert_fresh(c.as_ref());
            let names: Vec<&str> = c.paths().iter().map(|(n, _)| *n).collect();
            let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
            assert_eq!(unique.len(), names.len(), "{}: {names:?}", c.name());
            for n in names {
                assert!(
                    n.len() < 60 && !n.is_empty() && n == n.to_lowercase(),
                    "{}: {n:?}",
                    c.name()
                );
            }
        }
    }

    #[test]
    fn interest_holds_exactly_its_kinds() {
        use zab::MessageKind as M;
        let i = DELIVERIES.union(Interest::of(&[
            HappeningKind::Send(M::Ack),
            HappeningKind::Deliver(M::LeaderInfo),
            HappeningKind::Server(zab::EventKind::TreeReset),
            HappeningKind::Crash,
            HappeningKind::LivenessDeadline,
        ]));
        let held: Vec<HappeningKind> = HappeningKind::all().filter(|k| i.contains(*k)).collect();
        assert_eq!(
            held,
            [
                HappeningKind::Server(zab::EventKind::Delivered),
                HappeningKind::Server(zab::EventKind::TreeReset),
                HappeningKind::Send(M::Ack),
                HappeningKind::Deliver(M::LeaderInfo),
                HappeningKind::Crash,
                HappeningKind::LivenessDeadline,
            ]
        );
        assert!(HappeningKind::all().all(|k| Interest::ALL.contains(k)));
    }
}
