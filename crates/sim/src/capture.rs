//! A copy of every server's durable disk at one moment of a run (`sim run --zk-data`), with
//! what the model's txns lack to be written as ZooKeeper's files: when each was proposed,
//! and for which session.
//!
//! The disks are the durable images only: a write still waiting for its fsync is lost in a
//! crash, so it is no more on the disk than it would be in a real data directory copied at
//! that moment.

use check::Happening;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use zab::client_api::ClientEvent;
use zab::{ClientId, Config, DiskImage, Event, ServerId, SessionId, TxnId, TxnOp, Zxid};

/// When to copy the disks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureAt {
    /// At this simulated time (µs): after every event due at or before it. A run that ends
    /// earlier captures nothing.
    Time(u64),
    /// When the first invariant violation is found, or at the end of a run without one.
    FirstViolationOrEnd,
}

/// Which moment a capture is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// The time asked for.
    Asked,
    /// The event in which the first invariant violation was found, right after it.
    FirstViolation,
    /// The end of the run.
    End,
}

/// The leader's proposal of a txn: when, and the session of the request it answers
/// (`SessionId::NONE` for one no client asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub at_us: u64,
    pub session: SessionId,
}

/// Every server's durable disk at one moment.
#[derive(Clone, Debug)]
pub struct DiskCapture {
    /// The ensemble the disks belong to, and the release modelled.
    pub cfg: Arc<Config>,
    pub at_us: u64,
    pub moment: Moment,
    /// Participants then observers, crashed servers included.
    pub disks: Vec<(ServerId, DiskImage)>,
    /// Every txn proposed before the moment.
    pub proposals: BTreeMap<TxnId, Proposal>,
    /// Every txn a leader committed before the moment (a quorum acknowledged it).
    pub committed: BTreeSet<TxnId>,
    /// `[cluster] committed`: the initial txns up to this zxid were committed from the start.
    pub initially_committed: Option<Zxid>,
}

impl DiskCapture {
    /// Whether `txn` was committed by the moment.
    pub fn is_committed(&self, txn: TxnId) -> bool {
        self.committed.contains(&txn)
            || (txn.proposer == ServerId::NONE
                && self
                    .initially_committed
                    .is_some_and(|upto| txn.zxid <= upto))
    }
}

/// Watches a run for what a capture needs, and takes it.
pub(crate) struct Capturer {
    pub(crate) at: CaptureAt,
    /// Each client's session, as it last connected: the session its requests come in on.
    sessions: HashMap<ClientId, SessionId>,
    proposals: BTreeMap<TxnId, Proposal>,
    committed: BTreeSet<TxnId>,
    initially_committed: Option<Zxid>,
    pub(crate) taken: Option<DiskCapture>,
}

impl Capturer {
    pub(crate) fn new(at: CaptureAt) -> Capturer {
        Capturer {
            at,
            sessions: HashMap::new(),
            proposals: BTreeMap::new(),
            committed: BTreeSet::new(),
            initially_committed: None,
            taken: None,
        }
    }

    /// Notes a proposal and the client connections that say whose session it is.
    pub(crate) fn on(&mut self, now_us: u64, h: &Happening<'_>) {
        if self.taken.is_some() {
            return;
        }
        match h {
            Happening::Client {
                id,
                event: ClientEvent::Connected { session, .. },
            } => {
                self.sessions.insert(*id, *session);
            }
            Happening::InitiallyCommitted { upto } => self.initially_committed = Some(*upto),
            Happening::Server {
                event: Event::Committed { txn, .. },
                ..
            } => {
                self.committed.insert(*txn);
            }
            Happening::Server {
                event: Event::Proposed { txn, op, request },
                ..
            } => {
                let session = match op {
                    TxnOp::CreateSession { session, .. } | TxnOp::CloseSession { session } => {
                        *session
                    }
                    _ => request
                        .and_then(|r| self.sessions.get(&r.client).copied())
                        .unwrap_or(SessionId::NONE),
                };
                self.proposals.insert(
                    *txn,
                    Proposal {
                        at_us: now_us,
                        session,
                    },
                );
            }
            _ => {}
        }
    }

    /// Whether the capture is still to be taken before an event due at `next_us`.
    pub(crate) fn due_before(&self, next_us: u64) -> Option<u64> {
        match self.at {
            CaptureAt::Time(t) if self.taken.is_none() && next_us > t => Some(t),
            _ => None,
        }
    }

    pub(crate) fn take(
        &mut self,
        cfg: &Arc<Config>,
        at_us: u64,
        moment: Moment,
        disks: impl Iterator<Item = (ServerId, DiskImage)>,
    ) {
        if self.taken.is_none() {
            self.taken = Some(DiskCapture {
                cfg: cfg.clone(),
                at_us,
                moment,
                disks: disks.collect(),
                proposals: std::mem::take(&mut self.proposals),
                committed: std::mem::take(&mut self.committed),
                initially_committed: self.initially_committed,
            });
        }
    }
}
