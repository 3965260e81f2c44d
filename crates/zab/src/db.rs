//! The replicated database: txns, the in-memory data tree, snapshots and the on-disk image.
//!
//! ZooKeeper keeps a txn log, periodic snapshots of the data tree, and two small files,
//! `acceptedEpoch` and `currentEpoch`. [`DiskImage`] is exactly what survives a crash;
//! [`DiskOp`] is one write to it, which the simulator completes after an fsync delay.

use crate::client_api::{KeeperError, SessionId};
use crate::ids::{ClientId, ServerId, Zxid};
use crate::log_files::LogFile;
use crate::path::Path;
use serde::Serialize;
use std::sync::Arc;

pub use crate::tree::DataTree;

/// The operation a txn carries: what PrepRequestProcessor made of a request, fully resolved
/// (sequential names chosen, versions checked), so that every server applies it the same way.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TxnOp {
    /// A txn from a scenario's initial log; only its zxid matters.
    Initial,
    CreateSession {
        session: SessionId,
        timeout_ms: u32,
    },
    /// Ends a session (the client closed it, or the leader's session tracker expired it) and
    /// deletes its ephemeral znodes in the same txn.
    CloseSession {
        session: SessionId,
    },
    Create {
        /// The final path, with the sequence suffix already appended.
        path: Path,
        data: u64,
        /// `SessionId::NONE` for a persistent znode.
        ephemeral_owner: SessionId,
        /// The parent's cversion after this create.
        parent_cversion: i32,
    },
    Delete {
        path: Path,
    },
    SetData {
        path: Path,
        data: u64,
        /// The znode's version after this write.
        version: i32,
    },
    /// A request that failed its checks at the leader still takes a zxid, so that its error
    /// reaches the client in order with the session's other writes (`OpCode.error`).
    Error {
        err: KeeperError,
    },
}

/// Which client request a txn answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RequestId {
    pub client: ClientId,
    pub cxid: u64,
}

/// What makes a txn unique: a zxid alone is not enough once a bug lets two leaders share an
/// epoch (zk-335) or lets the counter wrap (zk-1277), so the proposer is part of the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TxnId {
    pub zxid: Zxid,
    /// The leader that proposed it; `ServerId::NONE` for a scenario's initial txns.
    pub proposer: ServerId,
}

impl std::fmt::Display for TxnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.proposer == ServerId::NONE {
            write!(f, "{}", self.zxid)
        } else {
            write!(f, "{}@{}", self.zxid, self.proposer)
        }
    }
}

/// One transaction, as logged and as sent in PROPOSAL, INFORM and sync packets.
///
/// A txn is written once by its leader and then only copied: into every learner's log and
/// disk, into packets and into the checkers' records. The fields sit behind one shared
/// allocation so that each of those copies costs a pointer, not the whole record; a long run
/// holds each txn once however many servers log it.
#[derive(Clone, PartialEq, Eq)]
pub struct Txn(Arc<TxnFields>);

/// What a [`Txn`] holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnFields {
    pub zxid: Zxid,
    pub proposer: ServerId,
    pub request: Option<RequestId>,
    pub op: TxnOp,
}

impl std::ops::Deref for Txn {
    type Target = TxnFields;

    fn deref(&self) -> &TxnFields {
        &self.0
    }
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn")
            .field("zxid", &self.zxid)
            .field("proposer", &self.proposer)
            .field("request", &self.request)
            .field("op", &self.op)
            .finish()
    }
}

impl Serialize for Txn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Txn", 4)?;
        st.serialize_field("zxid", &self.zxid)?;
        st.serialize_field("proposer", &self.proposer)?;
        st.serialize_field("request", &self.request)?;
        st.serialize_field("op", &self.op)?;
        st.end()
    }
}

impl Txn {
    pub fn new(zxid: Zxid, proposer: ServerId, request: Option<RequestId>, op: TxnOp) -> Txn {
        Txn(Arc::new(TxnFields {
            zxid,
            proposer,
            request,
            op,
        }))
    }

    pub fn id(&self) -> TxnId {
        TxnId {
            zxid: self.zxid,
            proposer: self.proposer,
        }
    }

    /// A txn of a scenario's initial log.
    pub fn initial(zxid: Zxid) -> Txn {
        Txn::new(zxid, ServerId::NONE, None, TxnOp::Initial)
    }

    /// The fields, to build a changed copy from (tests that forge a txn).
    pub fn fields(&self) -> TxnFields {
        TxnFields::clone(&self.0)
    }
}

impl From<TxnFields> for Txn {
    fn from(fields: TxnFields) -> Txn {
        Txn(Arc::new(fields))
    }
}

/// A fuzzy snapshot of the data tree at `zxid` (ZooKeeper's snapshot.<zxid> file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub zxid: Zxid,
    pub tree: DataTree,
}

impl Snapshot {
    /// The newest txn the snapshot holds. Its name (`zxid`) can be higher: a leader's data
    /// tree carries its NEWLEADER zxid, an epoch start with no txn behind it.
    pub fn last_txn(&self) -> Option<Zxid> {
        self.tree.applied.last().map(|t| t.zxid)
    }
}

impl Serialize for Snapshot {
    /// Snapshots travel inside SNAP packets; the trace records only which zxid they hold.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Snapshot", 2)?;
        st.serialize_field("zxid", &self.zxid)?;
        st.serialize_field("txns", &self.tree.applied.len())?;
        st.end()
    }
}

/// The files a write goes to. Writes to one file complete in order; writes to different
/// files are independent, as the txn log and the epoch files are in ZooKeeper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DiskFile {
    Log,
    Snapshot,
    AcceptedEpoch,
    CurrentEpoch,
    UpdatingEpoch,
}

/// One durable write.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum DiskOp {
    /// Append a txn to the txn log.
    Append(Txn),
    /// Append a txn as the first of a new log file (`log.<zxid>`): the log was rolled, or
    /// nothing was appended since the server started or truncated its log.
    AppendToNewFile(Txn),
    /// Drop every logged txn after `zxid` (`FileTxnSnapLog.truncateLog`,
    /// FileTxnSnapLog.java:511-533 at 3.8.0, 513-535 at 3.9.4). Snapshots are left alone.
    Truncate(Zxid),
    /// Delete every snapshot holding a txn after `zxid`: what `fixed` adds to a TRUNC, so that
    /// no later load brings the truncated txns back (see `trunc-keeps-snapshot`).
    DropSnapshotsAfter(Zxid),
    /// Write a snapshot. `replaces_log` is set for a snapshot received by SNAP: the old log up
    /// to its zxid is superseded by it.
    Snapshot {
        snapshot: Arc<Snapshot>,
        replaces_log: bool,
    },
    AcceptedEpoch(u64),
    CurrentEpoch(u64),
    /// Create (true) or delete (false) the `updatingEpoch` marker a learner keeps while it
    /// persists what NEWLEADER vouches for: a crash inside that window leaves a log ahead of
    /// currentEpoch, which start-up then repairs instead of refusing (ZOOKEEPER-1653).
    UpdatingEpoch(bool),
}

impl DiskOp {
    /// The txn an append writes.
    pub fn appended(&self) -> Option<&Txn> {
        match self {
            DiskOp::Append(t) | DiskOp::AppendToNewFile(t) => Some(t),
            _ => None,
        }
    }

    pub fn file(&self) -> DiskFile {
        match self {
            DiskOp::Append(_) | DiskOp::AppendToNewFile(_) | DiskOp::Truncate(_) => DiskFile::Log,
            DiskOp::Snapshot { .. } | DiskOp::DropSnapshotsAfter(_) => DiskFile::Snapshot,
            DiskOp::AcceptedEpoch(_) => DiskFile::AcceptedEpoch,
            DiskOp::CurrentEpoch(_) => DiskFile::CurrentEpoch,
            DiskOp::UpdatingEpoch(_) => DiskFile::UpdatingEpoch,
        }
    }
}

/// How many snapshots a disk keeps (ZooKeeper's autopurge.snapRetainCount default).
pub(crate) const SNAP_RETAIN_COUNT: usize = 3;

/// Everything on one server's disk that survives a crash.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiskImage {
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    /// The `updatingEpoch` marker file exists.
    pub updating_epoch: bool,
    /// Oldest first.
    pub snapshots: Vec<Arc<Snapshot>>,
    /// The txn log, ascending.
    pub log: Vec<Txn>,
    /// The files the log is kept in, oldest first.
    pub log_files: Vec<LogFile>,
    /// The snapshot the log continues: the last one received by SNAP (whose txns replaced
    /// the log before it), or none when the log goes back to the first txn.
    pub log_base: Option<Arc<Snapshot>>,
}

impl DiskImage {
    /// Makes a write durable.
    pub fn apply(&mut self, op: &DiskOp) {
        match op {
            DiskOp::Append(txn) | DiskOp::AppendToNewFile(txn) => {
                if matches!(op, DiskOp::AppendToNewFile(_)) || self.log_files.is_empty() {
                    self.log_files.push(LogFile {
                        first: txn.zxid,
                        truncated: false,
                    });
                }
                // A second append of the same txn (see `Server::log_txn`) is kept once.
                let again = self
                    .log
                    .iter()
                    .rev()
                    .take_while(|t| t.zxid >= txn.zxid)
                    .any(|t| t.id() == txn.id());
                if !again {
                    self.log.push(txn.clone());
                }
            }
            DiskOp::Truncate(zxid) => {
                let keep = self.log.partition_point(|t| t.zxid <= *zxid);
                self.log.truncate(keep);
                crate::log_files::truncate(&mut self.log_files, *zxid);
            }
            DiskOp::DropSnapshotsAfter(zxid) => {
                self.snapshots
                    .retain(|s| !matches!(s.last_txn(), Some(last) if last > *zxid));
            }
            DiskOp::Snapshot {
                snapshot,
                replaces_log,
            } => {
                if *replaces_log {
                    // What the log held up to the snapshot is superseded by it; appends of
                    // txns after it (logged while the snapshot was being written) stay.
                    self.log.retain(|t| t.zxid > snapshot.zxid);
                    self.log_base = Some(snapshot.clone());
                }
                // Kept in the order of their names, the order `FileSnap.findNValidSnapshots`
                // reads them in (FileSnap.java:161-182 / 3.9.4 ...); the oldest beyond
                // autopurge.snapRetainCount go.
                let at = self.snapshots.partition_point(|s| s.zxid <= snapshot.zxid);
                self.snapshots.insert(at, snapshot.clone());
                if self.snapshots.len() > SNAP_RETAIN_COUNT {
                    self.snapshots.remove(0);
                }
            }
            DiskOp::AcceptedEpoch(e) => self.accepted_epoch = *e,
            DiskOp::CurrentEpoch(e) => self.current_epoch = *e,
            DiskOp::UpdatingEpoch(on) => self.updating_epoch = *on,
        }
    }

    /// The snapshot with the highest name, which a restart loads (`FileSnap.deserialize`
    /// takes the most recent valid snapshot whatever it holds).
    pub fn latest_snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshots.last()
    }

    /// Zxid of the newest txn a restart would load (`lastProcessedZxid` after loadDataBase).
    pub fn last_zxid(&self) -> Zxid {
        let snap = self.latest_snapshot().map(|s| s.zxid).unwrap_or_default();
        self.log
            .last()
            .map(|t| t.zxid)
            .unwrap_or_default()
            .max(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_drops_later_txns_and_keeps_snapshots() {
        let mut d = DiskImage::default();
        for c in 1..=5 {
            d.apply(&DiskOp::Append(Txn::initial(Zxid::new(1, c))));
        }
        let mut tree = DataTree::default();
        for t in &d.log[..4] {
            tree.apply(t);
        }
        let snapshot = Arc::new(Snapshot {
            zxid: Zxid::new(1, 4),
            tree,
        });
        d.apply(&DiskOp::Snapshot {
            snapshot,
            replaces_log: false,
        });
        assert_eq!(d.last_zxid(), Zxid::new(1, 5));
        d.apply(&DiskOp::Truncate(Zxid::new(1, 3)));
        assert_eq!(d.log.len(), 3);
        assert_eq!(
            d.snapshots.len(),
            1,
            "ZooKeeper's truncateLog leaves snapshots alone"
        );
        assert_eq!(
            d.last_zxid(),
            Zxid::new(1, 4),
            "a restart loads the snapshot at 1:4"
        );
    }
}
