//! What a server keeps across roles (`QuorumPeer` and its `ZKDatabase`): the data tree,
//! the txn log and its files, snapshots, the epoch files, durable writes in flight, and the
//! connected clients. The role handlers (`election`, `leader`, `learner`) get a `&mut Peer`
//! beside their own state, so no handler reaches into another role's.

use crate::bug::Bug;
use crate::committed_log::CommittedLog;
use crate::config::Config;
use crate::db::{DataTree, DiskOp, Snapshot, Txn};
use crate::election::Vote;
use crate::ids::{ClientId, ServerId, Zxid};
use crate::io::{Event, Outputs, Timer, ZabPhase};
use crate::log_files::LogFile;
use crate::message::ServerState;
use crate::server::Flush;
use crate::serving::ClientConn;
use crate::timers::Timers;
use crate::watches::WatchManager;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What a server does when one of its durable writes completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterWrite {
    Nothing,
    /// Follower: ACK this proposal to the leader (SendAckRequestProcessor).
    AckProposal(Zxid),
    /// Leader: count its own ACK (AckRequestProcessor).
    SelfAck(Zxid),
    /// Leader: acceptedEpoch is durable; LEADERINFO may go out.
    LeaderAcceptedEpoch,
    /// Leader: currentEpoch is durable; it acknowledges its own NEWLEADER.
    LeaderCurrentEpoch,
    /// Learner: one of the writes its sync step waits for.
    LearnerStep,
    /// Start-up repair (`fixed`): currentEpoch is durable, so the `updatingEpoch` marker may
    /// go. Deleted any earlier, a crash in between would leave neither the marker nor the
    /// repaired epoch.
    ClearUpdatingEpoch,
}

#[derive(Debug)]
pub(crate) struct PendingWrite {
    pub(crate) id: u64,
    /// Zxid of an append, so that the zk-4712 variant can forget unflushed appends.
    pub(crate) append: Option<Zxid>,
    /// A snapshot write: once durable, the server knows it is on disk.
    pub(crate) snapshot: Option<Arc<Snapshot>>,
    /// An epoch file write: the in-memory value follows once it is durable.
    pub(crate) epoch: Option<DiskOp>,
    pub(crate) after: AfterWrite,
    /// The role incarnation that issued the write; a continuation from an earlier role is
    /// dropped (the write itself still completes on disk).
    pub(crate) role_gen: u64,
}

/// How a role ends (`QuorumPeer.run` after the role's loop exits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leave {
    /// Wait for the txn log to be flushed first (see [`Flush`]).
    Flush(Flush),
    /// Look for a leader now, after bringing the data tree up to the log if asked.
    Look { fast_forward: bool },
}

/// What a server keeps whatever its role: the database, the epoch files, the vote it
/// reports, its timers and its clients (what `QuorumPeer` and its `ZKDatabase` hold in
/// ZooKeeper). Role handlers get it as `&mut Peer` beside their own state.
pub(crate) struct Peer {
    pub(crate) id: ServerId,
    pub(crate) cfg: Arc<Config>,
    pub(crate) now: u64,
    /// The server's named deadlines; its driver asks only for [`Server::next_deadline`].
    pub(crate) timers: Timers<Timer>,
    pub(crate) accepted_epoch: u64,
    pub(crate) current_epoch: u64,
    /// The snapshot the in-memory log continues from (an empty tree at zxid 0 if none).
    pub(crate) base: Arc<Snapshot>,
    /// The snapshots on disk, by name (what a database load chooses from), as far as this
    /// server knows: those it booted with and those it wrote since.
    pub(crate) snapshots: Vec<Arc<Snapshot>>,
    /// Txns logged or being logged after `base`, ascending: what the server's log files hold
    /// (ZooKeeper's files also keep what a SNAP superseded; see docs/fidelity.md).
    pub(crate) log: Vec<Txn>,
    /// The files `log` is kept in, oldest first.
    pub(crate) log_files: Vec<LogFile>,
    /// The next append opens a new log file: the log was rolled for a snapshot, or the
    /// server started or truncated its log since its last append.
    pub(crate) roll_log: bool,
    /// `ZKDatabase.committedLog`: the newest committed txns, which a leader syncs learners
    /// from.
    pub(crate) committed_log: CommittedLog,
    pub(crate) tree: DataTree,
    /// How many of `tree.applied` are delivered (committed and visible to clients).
    pub(crate) delivered: usize,
    /// Txns appended since the log was last rolled (`ZKDatabase.getTxnCount`).
    pub(crate) txns_since_snapshot: u32,
    /// SyncRequestProcessor's `randRoll`: a snapshot starts once more than snapCount/2 plus
    /// this many txns were logged since the last one.
    pub(crate) snap_roll: u32,
    pub(crate) next_write_id: u64,
    pub(crate) pending: VecDeque<PendingWrite>,
    /// FLE's logical clock: in memory only, so it restarts at 0 after a crash.
    pub(crate) logical_clock: u64,
    /// `QuorumPeer.currentVote`: the vote this server reports to servers that are looking.
    pub(crate) current_vote: Vote,
    pub(crate) state: ServerState,
    pub(crate) phase: ZabPhase,
    pub(crate) role_gen: u64,
    /// The newest notification addressed to itself, processed after the current input
    /// (QuorumCnxManager loops it straight into the receive queue). Only the newest is kept,
    /// as for every other peer: under a broken vote order (zk-1419) a server's own stale
    /// vote would otherwise beat its newer one forever within a single instant.
    pub(crate) self_notification: Option<crate::message::Notification>,
    /// Clients connected to this server while it serves, with their sessions.
    pub(crate) clients: BTreeMap<ClientId, ClientConn>,
    /// Watches of the clients connected here.
    pub(crate) watches: WatchManager,
    /// The id the next session created here gets.
    pub(crate) next_session_id: u64,
    /// The server's own random choices (SyncRequestProcessor's snapshot roll, a learner
    /// thread's stall): seeded from the run's seed, the server and the time it booted, so a
    /// run stays a function of its seed.
    pub(crate) rng: ChaCha8Rng,
    /// The role is over: set by a role's shutdown, carried out by [`crate::server::Server`]
    /// once the handler returns (as `QuorumPeer.run` goes on after a role's loop exits).
    pub(crate) leaving: Option<Leave>,
    /// Connections whose session was just established, with packets that arrived meanwhile
    /// (`enableRecv` after `finishSessionInit`): the server reads them once the handler that
    /// established the session returns.
    pub(crate) reenabled: Vec<ClientId>,
}

impl Peer {
    /// Issues a durable write and remembers what to do once it completes.
    pub(crate) fn write(&mut self, op: DiskOp, after: AfterWrite, out: &mut Outputs) -> u64 {
        let epoch = match &op {
            DiskOp::AcceptedEpoch(_) | DiskOp::CurrentEpoch(_) => Some(op.clone()),
            _ => None,
        };
        let id = self.next_write_id;
        self.next_write_id += 1;
        let append = op.appended().map(|t| t.zxid);
        let snapshot = match &op {
            DiskOp::Snapshot { snapshot, .. } => Some(snapshot.clone()),
            _ => None,
        };
        self.pending.push_back(PendingWrite {
            id,
            append,
            snapshot,
            epoch,
            after,
            role_gen: self.role_gen,
        });
        out.items.push(crate::io::Output::Disk { id, op });
        id
    }

    /// Drops the continuations of in-flight writes of one kind; the writes still complete.
    pub(crate) fn detach_writes(&mut self, after: AfterWrite) {
        for w in self.pending.iter_mut().filter(|w| w.after == after) {
            w.after = AfterWrite::Nothing;
        }
    }

    /// Whether a snapshot write is still in flight.
    pub(crate) fn snapshot_in_flight(&self) -> bool {
        self.pending.iter().any(|w| w.snapshot.is_some())
    }

    /// Zxids of appends not yet durable.
    pub(crate) fn unflushed_appends(&self) -> impl Iterator<Item = Zxid> + '_ {
        self.pending.iter().filter_map(|w| w.append)
    }

    /// Whether an acceptedEpoch or currentEpoch write is in flight. ZooKeeper writes those
    /// files in the role's own thread and waits (QuorumPeer.setAcceptedEpoch and
    /// setCurrentEpoch, QuorumPeer.java:2231-2240 at 3.8.0, 2255-2264 at 3.9.4, called from
    /// Learner.java:514, 532, 730, 752 at 3.8.0 and 514, 532, 741, 813 at 3.9.4, and from
    /// Leader.lead): a role cannot end in the middle of one, and the next role starts from
    /// the value it wrote.
    pub(crate) fn epoch_write_in_flight(&self) -> bool {
        self.pending.iter().any(|w| w.epoch.is_some())
    }

    /// How many writes of this kind are still in flight, from this role or an earlier one:
    /// ZooKeeper's learner thread writes synchronously, so a new sync cannot start its own
    /// writes while the previous sync's snapshot or log writes are still going.
    pub(crate) fn writes_in_flight(&self, after: AfterWrite) -> usize {
        self.pending.iter().filter(|w| w.after == after).count()
    }

    /// Appends a txn to the log (in memory now, on disk after the fsync), taking a periodic
    /// snapshot every `snap_count` txns as SyncRequestProcessor does.
    pub(crate) fn log_txn(&mut self, txn: Txn, after: AfterWrite, out: &mut Outputs) {
        // A learner that left its role before its data tree caught up with its log (3.8.0,
        // zk-4394 and zk-4712) is synced again from that older tree and handed txns it logged
        // already. ZooKeeper appends them a second time (FileTxnLog.append only warns "Current
        // zxid ... is <= ...") and its replay applies them again without effect; zabsim keeps
        // one copy in the log.
        if !self.logged(&txn) {
            self.log.push(txn.clone());
        }
        // FileTxnLog.append opens `log.<zxid>` when no file is open (FileTxnLog.java:284 /
        // 290); `rollLog` (236 / 249) closes the open one.
        let op = if std::mem::take(&mut self.roll_log) || self.log_files.is_empty() {
            self.log_files.push(LogFile {
                first: txn.zxid,
                truncated: false,
            });
            DiskOp::AppendToNewFile(txn)
        } else {
            DiskOp::Append(txn)
        };
        self.write(op, after, out);
        // SyncRequestProcessor.shouldSnapshot and run (SyncRequestProcessor.java:143-202,
        // the same at both tags): past snapCount/2 + randRoll txns the log is rolled and a
        // snapshot thread started, unless the previous one is still writing ("Too busy to
        // snap, skipping"); randRoll is drawn again either way.
        self.txns_since_snapshot += 1;
        let snap_count = self.cfg.snap_count;
        if self.txns_since_snapshot > snap_count.max(2) / 2 + self.snap_roll {
            self.txns_since_snapshot = 0;
            self.snap_roll = self.draw_snap_roll(snap_count);
            // `rollLog` comes first, whether or not a snapshot can start.
            self.roll_log = true;
            if !self.snapshot_in_flight() {
                self.take_snapshot(false, AfterWrite::Nothing, out);
            }
        }
    }

    /// `randRoll = ThreadLocalRandom.current().nextInt(snapCount / 2)`; ZooKeeper raises a
    /// snapCount below 2 to 2 (ZooKeeperServer.getSnapCount).
    pub(crate) fn draw_snap_roll(&mut self, snap_count: u32) -> u32 {
        use rand::Rng;
        self.rng.gen_range(0..snap_count.max(2) / 2)
    }

    /// Whether this very txn is already in the log, or in the snapshot it continues from.
    fn logged(&self, txn: &Txn) -> bool {
        self.base.last_txn().is_some_and(|last| txn.zxid <= last)
            && self.base.tree.applied.iter().rev().any(|t| t == txn.id())
            || self
                .log
                .iter()
                .rev()
                .take_while(|t| t.zxid >= txn.zxid)
                .any(|t| t.id() == txn.id())
    }

    /// `ZooKeeperServer.takeSnapshot`: serialize the data tree as it is now.
    pub(crate) fn take_snapshot(
        &mut self,
        replaces_log: bool,
        after: AfterWrite,
        out: &mut Outputs,
    ) -> u64 {
        let snapshot = Arc::new(Snapshot {
            zxid: self.tree.last_processed,
            tree: self.tree.clone(),
        });
        self.write(
            DiskOp::Snapshot {
                snapshot,
                replaces_log,
            },
            after,
            out,
        )
    }

    /// Makes the tree as it is now the base snapshot, keeping only log txns after it.
    pub(crate) fn rebase_on_latest_snapshot(&mut self) {
        self.base = Arc::new(Snapshot {
            zxid: self.tree.last_processed,
            tree: self.tree.clone(),
        });
        let base = self.base.zxid;
        self.log.retain(|t| t.zxid > base);
    }

    /// Applies a committed txn to the data tree and reports it delivered
    /// (`FinalRequestProcessor` through `ZooKeeperServer.processTxn(Request)`, which also
    /// adds it to the committedLog).
    pub(crate) fn apply_committed(&mut self, txn: &Txn, out: &mut Outputs) {
        self.add_committed(txn, out);
        let applied = self.tree.apply(txn);
        self.deliver_all(out);
        self.on_applied(txn, applied, out);
    }

    /// Marks everything in the data tree as delivered.
    pub(crate) fn deliver_all(&mut self, out: &mut Outputs) {
        if self.delivered != self.tree.applied.len() {
            let from = std::mem::replace(&mut self.delivered, self.tree.applied.len());
            out.event(Event::Delivered {
                from,
                count: self.delivered,
            });
        }
    }

    /// Rebuilds the data tree from the base snapshot and the log (ZKDatabase.loadDataBase),
    /// and the committedLog from what the load replays after the newest snapshot.
    pub(crate) fn reload_tree(&mut self, out: &mut Outputs) {
        let mut tree = self.base.tree.clone();
        for txn in &self.log {
            tree.apply(txn);
        }
        self.replace_tree(tree, out);
        self.replay_committed_log(out);
    }

    /// loadDataBase's playback listener: the committedLog is emptied and refilled with what
    /// the load replays after the newest snapshot (ZKDatabase.java:271-275, 283 / 276-280,
    /// 288).
    pub(crate) fn replay_committed_log(&mut self, out: &mut Outputs) {
        let from = self
            .snapshots
            .last()
            .map_or(self.base.zxid, |s| s.zxid)
            .max(self.base.zxid);
        self.committed_log.clear();
        let start = self.log.partition_point(|t| t.zxid <= from);
        for i in start..self.log.len() {
            let txn = self.log[i].clone();
            self.add_committed(&txn, out);
        }
    }

    /// `ZKDatabase.addCommittedProposal`. 3.9.4 throws on a hole within an epoch; zabsim's
    /// servers never make one, so if one does, it is reported as a protocol error.
    pub(crate) fn add_committed(&mut self, txn: &Txn, out: &mut Outputs) {
        if let Err(e) = self.committed_log.add(txn) {
            out.event(Event::ProtocolError {
                reason: e.to_string(),
            });
        }
    }

    /// A TRUNC cuts the log files as well, and the next append opens a new one
    /// (`FileTxnSnapLog.truncateLog` closes the log and opens it anew).
    pub(crate) fn truncate_log_files(&mut self, zxid: Zxid) {
        crate::log_files::truncate(&mut self.log_files, zxid);
        self.roll_log = true;
    }

    /// Swaps in a new data tree, telling the checkers how much of the old one survives.
    pub(crate) fn replace_tree(&mut self, tree: DataTree, out: &mut Outputs) {
        let kept = self.tree.applied.common_prefix(&tree.applied);
        self.tree = tree;
        self.delivered = self.delivered.min(kept);
        out.event(Event::TreeReset { kept });
    }

    /// `ZKDatabase.fastForwardDataBase`: apply logged txns the tree has not seen yet. ZooKeeper
    /// does this when a server leaves a role, so that its vote reflects its whole log.
    pub(crate) fn fast_forward(&mut self, out: &mut Outputs) {
        let from = self
            .log
            .partition_point(|t| t.zxid <= self.tree.last_processed);
        for i in from..self.log.len() {
            let txn = self.log[i].clone();
            self.tree.apply(&txn);
            // The playback listener adds it to the committedLog (ZKDatabase.java:299-303 /
            // 304-308).
            self.add_committed(&txn, out);
        }
    }

    /// Leaves the current role, as `QuorumPeer.run` does after a role's loop exits: the
    /// role's `shutdown` closes its connections and, for a server that was serving
    /// (`ZooKeeperServer.canShutdown`: RUNNING), shuts its request processors down, which
    /// flushes the txn log (SyncRequestProcessor.shutdown) before `fastForwardDataBase`; then
    /// it runs a new election. `flush` is false where the release leaves the log thread
    /// running instead (zk-4712).
    pub(crate) fn leave_role(&mut self, running: bool, flush: bool, out: &mut Outputs) {
        self.role_gen += 1;
        self.close_clients(out);
        // Every role timer goes with the role; the election sets its own when it starts.
        for t in <Timer as crate::timers::TimerName>::ALL {
            if !matches!(t, Timer::FleTimeout | Timer::FleFinalize) {
                self.timers.cancel(*t);
            }
        }
        // zk-2845: before ZOOKEEPER-2845 nothing brought the data tree up to the log when a
        // server left its role.
        let fast_forward = running && !self.cfg.has(Bug::Zk2845);
        if self.tree_lags_log() {
            if running && self.cfg.has(Bug::Zk2845) {
                out.fired(Bug::Zk2845);
            }
            if !running {
                // Only the 3.8.0 handoff at NEWLEADER leaves a learner that never reached
                // UPTODATE with txns in its log that its data tree lacks; nothing catches the
                // tree up (ZooKeeperServer.shutdown does nothing for a server not RUNNING).
                for bug in [Bug::Zk4646, Bug::Zk4394] {
                    if self.cfg.has(bug) {
                        out.fired(bug);
                        break;
                    }
                }
            }
        }
        let unflushed = running && flush && self.unflushed_appends().next().is_some();
        let leave = if unflushed || self.epoch_write_in_flight() {
            Leave::Flush(Flush {
                all_writes: false,
                appends: unflushed,
                fast_forward,
            })
        } else {
            Leave::Look { fast_forward }
        };
        self.leaving = Some(leave);
    }

    /// Whether the log holds txns the data tree has not applied.
    fn tree_lags_log(&self) -> bool {
        self.log
            .last()
            .is_some_and(|t| t.zxid > self.tree.last_processed)
    }

    pub(crate) fn set_state(&mut self, state: ServerState, phase: ZabPhase, out: &mut Outputs) {
        if self.state != state || self.phase != phase {
            self.state = state;
            self.phase = phase;
            out.event(Event::State {
                state,
                phase,
                epoch: self.current_epoch,
            });
        }
    }

    /// `lastProcessedZxid`: what the server advertises in votes and ACKEPOCH.
    pub(crate) fn last_zxid(&self) -> Zxid {
        self.tree.last_processed
    }
}

impl Peer {
    /// A durable write completed: the epoch file's value and the snapshot list follow the
    /// disk, and the write is handed back for its continuation.
    pub(crate) fn complete_write(&mut self, id: u64, out: &mut Outputs) -> Option<PendingWrite> {
        let pos = self.pending.iter().position(|w| w.id == id)?;
        let write = self.pending.remove(pos)?;
        // QuorumPeer.setAcceptedEpoch / setCurrentEpoch write the file, then set the field:
        // the value a server acts on is always one its disk holds.
        match write.epoch {
            Some(DiskOp::AcceptedEpoch(e)) => self.accepted_epoch = e,
            Some(DiskOp::CurrentEpoch(e)) => self.current_epoch = e,
            _ => {}
        }
        if let Some(snapshot) = &write.snapshot {
            let at = self.snapshots.partition_point(|s| s.zxid <= snapshot.zxid);
            self.snapshots.insert(at, snapshot.clone());
            if self.snapshots.len() > crate::db::SNAP_RETAIN_COUNT {
                self.snapshots.remove(0);
            }
        }
        if write.after == AfterWrite::ClearUpdatingEpoch {
            self.write(DiskOp::UpdatingEpoch(false), AfterWrite::Nothing, out);
        }
        Some(write)
    }
}
