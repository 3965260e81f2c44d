//! Followers and observers: `Learner.registerWithLeader`, `Learner.syncWithLeader` and the
//! broadcast loops of `Follower` and `Observer`.
//!
//! ZooKeeper's learner thread blocks on its synchronous writes (acceptedEpoch, TRUNC, the
//! NEWLEADER fsync, currentEpoch); packets that arrive meanwhile wait in the socket. Here a
//! blocked learner keeps such packets in a backlog until the writes it waits for are durable.

use crate::bug::Bug;
use crate::client_api::SessionId;
use crate::db::{DiskOp, Snapshot, Txn};
use crate::ids::{Channel, Endpoint, ServerId, Zxid};
use crate::io::{Event, Output, Outputs, Timer, ZabPhase};
use crate::message::{Message, ServerState};
use crate::server::{AfterWrite, Role, Server};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// How long a learner waits before retrying a refused connection
/// (`leaderConnectDelayDuringRetryMs`).
const CONNECT_RETRY_US: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO/OBSERVERINFO sent; waiting for LEADERINFO.
    Connecting,
    /// ACKEPOCH sent; waiting for DIFF, TRUNC or SNAP.
    AwaitSync,
    /// Between the first sync packet and UPTODATE.
    Syncing,
    Broadcast,
}

/// A step of the learner thread that waits for durable writes before it goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// acceptedEpoch is being written (or an earlier sync's writes are finishing); then
    /// ACKEPOCH, with the currentEpoch if the epoch is new to this learner, else with -1.
    AckEpoch(bool),
    /// The log is being truncated; the data tree was already reloaded from what is left.
    Trunc,
    /// NEWLEADER: the updatingEpoch marker is being created.
    NewLeaderUpdating,
    /// NEWLEADER: the snapshot and synced txns are being written.
    NewLeaderLog,
    /// NEWLEADER: currentEpoch is being written; then the NEWLEADER ack.
    NewLeaderEpoch,
}

/// A proposal received during sync, with whether it already went to the log (zk-4685).
#[derive(Debug)]
struct InFlight {
    txn: Txn,
    logged: bool,
    /// Logged at NEWLEADER, to be acknowledged right after the NEWLEADER ack.
    ack_after_newleader: bool,
}

pub(crate) struct Learner {
    pub(crate) leader: ServerId,
    observer: bool,
    pub(crate) new_epoch: Option<u64>,
    stage: Stage,
    started_us: u64,
    last_heard_us: u64,
    snapshot_needed: bool,
    sync_snapshot: bool,
    write_to_log: bool,
    newleader_zxid: Option<Zxid>,
    newleader_acked: bool,
    /// packetsNotLogged.
    not_logged: VecDeque<InFlight>,
    /// packetsCommitted.
    committed: VecDeque<Zxid>,
    blocked: Option<Blocked>,
    /// Why the connection to the leader was lost while NEWLEADER's disk writes were under way:
    /// the learner gives up on the leader once they are done (see `learner_give_up`).
    lost_during_newleader: Option<&'static str>,
    backlog: VecDeque<Message>,
    /// FollowerZooKeeperServer.pendingTxns: logged proposals waiting for their COMMIT.
    pending_txns: VecDeque<Txn>,
    /// The base snapshot and log a SNAP replaced in memory, while the replacement is not yet
    /// written: a sync that fails before then reloads them (ZOOKEEPER-3642).
    pre_snap: Option<(Arc<Snapshot>, Vec<Txn>)>,
    /// `LearnerSessionTracker.touchTable`: sessions of clients connected here that were heard
    /// from since the last PING, with their timeouts; the PING answer carries them to the
    /// leader, which alone decides expiry.
    touched: BTreeMap<SessionId, u32>,
}

impl Server {
    fn learner_mut(&mut self) -> &mut Learner {
        match &mut self.role {
            Role::Learning(l) => l,
            _ => unreachable!("not learning"),
        }
    }

    fn learner_ref(&self) -> &Learner {
        match &self.role {
            Role::Learning(l) => l,
            _ => unreachable!("not learning"),
        }
    }

    pub(crate) fn become_learner(&mut self, leader: ServerId, observer: bool, out: &mut Outputs) {
        self.role_gen += 1;
        self.role = Role::Learning(Box::new(Learner {
            leader,
            observer,
            new_epoch: None,
            stage: Stage::Connecting,
            started_us: self.now,
            last_heard_us: self.now,
            snapshot_needed: true,
            sync_snapshot: false,
            pre_snap: None,
            write_to_log: false,
            newleader_zxid: None,
            newleader_acked: false,
            not_logged: VecDeque::new(),
            committed: VecDeque::new(),
            blocked: None,
            lost_during_newleader: None,
            backlog: VecDeque::new(),
            pending_txns: VecDeque::new(),
            touched: BTreeMap::new(),
        }));
        let state = if observer {
            ServerState::Observing
        } else {
            ServerState::Following
        };
        self.set_state(state, ZabPhase::Discovery, out);
        self.send_learner_info(out);
        out.set_timer(Timer::LearnerTimeout, self.now + self.cfg.init_limit_us());
    }

    fn send_learner_info(&mut self, out: &mut Outputs) {
        let l = self.learner_ref();
        let accepted_epoch = self.accepted_epoch;
        let msg = if l.observer {
            Message::ObserverInfo { accepted_epoch }
        } else {
            Message::FollowerInfo { accepted_epoch }
        };
        out.send(l.leader, Channel::Quorum, msg);
    }

    pub(crate) fn learner_receive(&mut self, sid: ServerId, msg: Message, out: &mut Outputs) {
        let now = self.now;
        let l = self.learner_mut();
        if sid != l.leader {
            return;
        }
        l.last_heard_us = now;
        if l.blocked.is_some() {
            l.backlog.push_back(msg);
            return;
        }
        self.learner_process(msg, out);
    }

    fn learner_process(&mut self, msg: Message, out: &mut Outputs) {
        match self.learner_ref().stage {
            Stage::Connecting => {
                if let Message::LeaderInfo { epoch } = msg {
                    self.on_leader_info(epoch, out);
                }
            }
            Stage::AwaitSync => self.on_first_sync_packet(msg, out),
            Stage::Syncing => self.on_sync_packet(msg, out),
            Stage::Broadcast => self.on_broadcast_packet(msg, out),
        }
    }

    /// `registerWithLeader`: accept the new epoch (persisting it before ACKEPOCH), or give up
    /// on a leader whose epoch is behind ours.
    fn on_leader_info(&mut self, epoch: u64, out: &mut Outputs) {
        self.learner_mut().new_epoch = Some(epoch);
        if epoch > self.accepted_epoch || (epoch == self.accepted_epoch && self.cfg.has(Bug::Zk335))
        {
            self.write(DiskOp::AcceptedEpoch(epoch), AfterWrite::LearnerStep, out);
            self.learner_mut().blocked = Some(Blocked::AckEpoch(true));
            self.learner_continue(out);
        } else if epoch == self.accepted_epoch {
            // Through the blocked path too: an earlier sync's writes may still be going, and
            // ZooKeeper's learner thread would have finished them before reading LEADERINFO.
            self.learner_mut().blocked = Some(Blocked::AckEpoch(false));
            self.learner_continue(out);
        } else {
            let reason = format!(
                "Leaders epoch, {epoch} is less than accepted epoch, {}",
                self.accepted_epoch
            );
            self.learner_shutdown(&reason, out);
        }
    }

    fn send_ack_epoch(&mut self, current_epoch: Option<u64>, out: &mut Outputs) {
        let last_zxid = self.last_zxid();
        let l = self.learner_mut();
        l.stage = Stage::AwaitSync;
        let leader = l.leader;
        self.set_state(self.state, ZabPhase::Synchronization, out);
        out.send(
            leader,
            Channel::Quorum,
            Message::AckEpoch {
                current_epoch,
                last_zxid,
            },
        );
    }

    fn on_first_sync_packet(&mut self, msg: Message, out: &mut Outputs) {
        let l = self.learner_mut();
        l.stage = Stage::Syncing;
        match msg {
            Message::Diff { zxid } => {
                l.snapshot_needed = false;
                l.write_to_log = true;
                if self.cfg.has(Bug::Zk2355) {
                    // Before ZOOKEEPER-2355 the follower took the DIFF target as its last zxid
                    // before it had applied anything.
                    self.tree.last_processed = zxid;
                }
            }
            Message::Snap { snapshot } => {
                l.sync_snapshot = true;
                let old_base = std::mem::replace(&mut self.base, snapshot.clone());
                let old_log = std::mem::take(&mut self.log);
                self.learner_mut().pre_snap = Some((old_base, old_log));
                self.replace_tree(snapshot.tree.clone(), out);
            }
            Message::Trunc { zxid } => {
                // A snapshot's zxid can be an epoch start above every txn it holds (a leader
                // sets lastProcessedZxid to its NEWLEADER zxid, and SNAP ships that), so the
                // TRUNC may be below the snapshot's name yet undo nothing in it. Only a txn
                // inside the snapshot cannot be truncated away.
                let snapshot_last_txn = self.base.last_txn();
                if snapshot_last_txn.is_some_and(|last| zxid < last) {
                    let reason = format!(
                        "Not able to truncate the log to {zxid}: the snapshot at {} holds txns \
                         up to {}",
                        self.base.zxid,
                        snapshot_last_txn.unwrap_or_default()
                    );
                    out.event(Event::ProtocolError { reason });
                    self.learner_shutdown("truncation failed", out);
                    return;
                }
                let keep = self.log.partition_point(|t| t.zxid <= zxid);
                self.log.truncate(keep);
                self.write(DiskOp::Truncate(zxid), AfterWrite::LearnerStep, out);
                // ZKDatabase.truncateLog truncates and reloads in one call on the learner
                // thread: whatever happens to the connection meanwhile, the data tree never
                // outlives the log it came from.
                if !self.cfg.has(Bug::Zk2845) {
                    self.reload_tree(out);
                }
                // Learner.syncWithLeader sets lastProcessedZxid to the TRUNC zxid whatever the
                // reload gave; with zk-2845 the in-memory database survives the truncation.
                self.tree.last_processed = zxid;
                self.learner_mut().blocked = Some(Blocked::Trunc);
            }
            other => {
                let reason = format!(
                    "expected DIFF, TRUNC or SNAP from the leader, got {}",
                    other.name()
                );
                out.event(Event::ProtocolError { reason });
                self.learner_shutdown("unexpected packet", out);
            }
        }
    }

    fn on_sync_packet(&mut self, msg: Message, out: &mut Outputs) {
        match msg {
            Message::Proposal { txn } => {
                let log_now = self.cfg.has(Bug::Zk4685) && !self.learner_ref().observer;
                if log_now {
                    // The follower's SyncRequestProcessor logs and ACKs it while the learner
                    // thread is still syncing, so this ACK can overtake the NEWLEADER ack.
                    let zxid = txn.zxid;
                    self.log_txn(txn.clone(), AfterWrite::AckProposal(zxid), out);
                }
                self.learner_mut().not_logged.push_back(InFlight {
                    txn,
                    logged: log_now,
                    ack_after_newleader: false,
                });
            }
            Message::Commit { zxid } => {
                let l = self.learner_mut();
                if l.write_to_log {
                    l.committed.push_back(zxid);
                } else if l.not_logged.front().map(|p| p.txn.zxid) == Some(zxid) {
                    let p = l.not_logged.pop_front().expect("front");
                    self.tree.apply(&p.txn);
                }
            }
            Message::Inform { txn } => {
                let l = self.learner_mut();
                if l.write_to_log {
                    l.committed.push_back(txn.zxid);
                    l.not_logged.push_back(InFlight {
                        txn,
                        logged: false,
                        ack_after_newleader: false,
                    });
                } else {
                    self.tree.apply(&txn);
                }
            }
            Message::NewLeader { zxid } => self.on_new_leader(zxid, out),
            Message::UpToDate => self.on_up_to_date(out),
            _ => {}
        }
    }

    /// NEWLEADER, in the order ZooKeeper uses since ZOOKEEPER-4643/4646: snapshot if
    /// needed, synced txns durable, then currentEpoch, then the ack.
    fn on_new_leader(&mut self, zxid: Zxid, out: &mut Outputs) {
        let l = self.learner_mut();
        if l.new_epoch != Some(zxid.epoch()) {
            let reason = format!(
                "NEWLEADER {zxid} does not match the epoch of LEADERINFO {:?}",
                l.new_epoch
            );
            out.event(Event::ProtocolError { reason });
        }
        l.newleader_zxid = Some(zxid);
        self.write(DiskOp::UpdatingEpoch(true), AfterWrite::LearnerStep, out);
        self.learner_mut().blocked = Some(Blocked::NewLeaderUpdating);
        self.learner_continue(out);
    }

    /// NEWLEADER, once the updatingEpoch marker exists: snapshot if needed, log the synced
    /// txns, then (once they are durable) currentEpoch.
    fn new_leader_persist(&mut self, zxid: Zxid, out: &mut Outputs) {
        let l = self.learner_mut();
        let snapshot_needed = l.snapshot_needed;
        let sync_snapshot = l.sync_snapshot;
        l.write_to_log = true;
        if snapshot_needed {
            self.take_snapshot(sync_snapshot, AfterWrite::LearnerStep, out);
            self.learner_mut().pre_snap = None;
            // Txns applied in memory during this sync were never logged: from now on the
            // database is this snapshot plus the log after it, which is what loading it
            // from disk (after a restart or a later TRUNC) gives.
            self.rebase_on_latest_snapshot();
        }
        loop {
            let l = self.learner_mut();
            let Some(zxid) = l.committed.pop_front() else {
                break;
            };
            match l.not_logged.front() {
                Some(p) if p.txn.zxid == zxid => {}
                _ => continue,
            }
            let p = l.not_logged.pop_front().expect("front");
            if !p.logged {
                self.log_txn(p.txn.clone(), AfterWrite::LearnerStep, out);
            }
            self.tree.apply(&p.txn);
        }
        if !self.learner_ref().observer {
            // ZOOKEEPER-4646/4785: the proposals not yet committed are logged now too, and
            // the NEWLEADER ack waits for them; their own ACKs follow the NEWLEADER ack.
            let unlogged: Vec<Txn> = self
                .learner_mut()
                .not_logged
                .iter_mut()
                .filter(|p| !p.logged)
                .map(|p| {
                    p.logged = true;
                    p.ack_after_newleader = true;
                    p.txn.clone()
                })
                .collect();
            for txn in unlogged {
                self.log_txn(txn, AfterWrite::LearnerStep, out);
            }
        }
        let new_epoch = zxid.epoch();
        if self.cfg.has(Bug::Zk3911) || self.cfg.has(Bug::Zk4643) {
            // Both variants write currentEpoch without waiting for the synced txns; zk-3911
            // also acknowledges as soon as currentEpoch alone is durable.
            if self.cfg.has(Bug::Zk3911) {
                self.forget_learner_step_writes();
            }
            self.write(
                DiskOp::CurrentEpoch(new_epoch),
                AfterWrite::LearnerStep,
                out,
            );
            self.learner_mut().blocked = Some(Blocked::NewLeaderEpoch);
        } else {
            self.learner_mut().blocked = Some(Blocked::NewLeaderLog);
        }
    }

    /// zk-3911: the learner thread no longer waits for the log writes it started.
    fn forget_learner_step_writes(&mut self) {
        self.detach_writes(AfterWrite::LearnerStep);
    }

    fn on_up_to_date(&mut self, out: &mut Outputs) {
        let Some(nl) = self.learner_ref().newleader_zxid else {
            out.event(Event::ProtocolError {
                reason: "UPTODATE before NEWLEADER".into(),
            });
            self.learner_shutdown("unexpected UPTODATE", out);
            return;
        };
        let epoch = nl.epoch();
        let (leader, observer) = {
            let l = self.learner_ref();
            (l.leader, l.observer)
        };
        out.send(
            leader,
            Channel::Quorum,
            Message::Ack {
                zxid: Zxid::new(epoch, 0),
            },
        );
        self.current_vote.peer_epoch = epoch;
        self.deliver_all(out);
        let state = self.state;
        self.set_state(state, ZabPhase::Broadcast, out);
        out.event(Event::Synced { leader, epoch });
        self.learner_mut().stage = Stage::Broadcast;
        let pending: Vec<InFlight> = self.learner_mut().not_logged.drain(..).collect();
        let committed: Vec<Zxid> = self.learner_mut().committed.drain(..).collect();
        if observer {
            // Observer: packetsNotLogged are committed txns; apply those matching commits.
            let mut commits = committed.into_iter().peekable();
            for p in pending {
                if commits.peek() == Some(&p.txn.zxid) {
                    commits.next();
                    self.log_txn(p.txn.clone(), AfterWrite::Nothing, out);
                    self.apply_committed(&p.txn, out);
                }
            }
        } else {
            for p in pending {
                let zxid = p.txn.zxid;
                self.learner_mut().pending_txns.push_back(p.txn.clone());
                if !p.logged {
                    self.log_txn(p.txn, AfterWrite::AckProposal(zxid), out);
                }
            }
            for zxid in committed {
                self.follower_commit(zxid, out);
                if !matches!(self.role, Role::Learning(_)) {
                    return;
                }
            }
        }
    }

    fn on_broadcast_packet(&mut self, msg: Message, out: &mut Outputs) {
        let observer = self.learner_ref().observer;
        match msg {
            Message::Proposal { txn } if !observer => {
                let zxid = txn.zxid;
                self.learner_mut().pending_txns.push_back(txn.clone());
                self.log_txn(txn, AfterWrite::AckProposal(zxid), out);
            }
            Message::Commit { zxid } if !observer => self.follower_commit(zxid, out),
            Message::Inform { txn } if observer => {
                self.log_txn(txn.clone(), AfterWrite::Nothing, out);
                self.apply_committed(&txn, out);
            }
            Message::Ping { .. } => {
                let l = self.learner_mut();
                let sessions = std::mem::take(&mut l.touched).into_iter().collect();
                let leader = l.leader;
                out.send(leader, Channel::Quorum, Message::Ping { sessions });
            }
            Message::Revalidate { session, valid, .. } => self.revalidated(session, valid, out),
            Message::Sync { request } => self.sync_done(&request, out),
            _ => {}
        }
    }

    /// `FollowerZooKeeperServer.commit`: the COMMIT must match the oldest pending txn, or
    /// ZooKeeper exits (UNMATCHED_TXN_COMMIT).
    fn follower_commit(&mut self, zxid: Zxid, out: &mut Outputs) {
        let l = self.learner_mut();
        let Some(front) = l.pending_txns.front() else {
            return; // "Committing ... without seeing txn": logged and ignored.
        };
        if front.zxid != zxid {
            let reason = format!("Committing zxid {zxid} but next pending txn {}", front.zxid);
            out.event(Event::ProtocolError { reason });
            self.learner_shutdown("unmatched txn commit", out);
            return;
        }
        let txn = l.pending_txns.pop_front().expect("front");
        self.apply_committed(&txn, out);
    }

    /// A client connected here was heard from.
    pub(crate) fn learner_touch(&mut self, session: SessionId, timeout_ms: u32) {
        self.learner_mut().touched.insert(session, timeout_ms);
    }

    /// A proposal this follower logged is durable: acknowledge it.
    pub(crate) fn learner_logged(&mut self, zxid: Zxid, out: &mut Outputs) {
        if let Role::Learning(l) = &self.role {
            if !l.observer {
                out.send(l.leader, Channel::Quorum, Message::Ack { zxid });
            }
        }
    }

    pub(crate) fn learner_write_done(&mut self, out: &mut Outputs) {
        if matches!(self.role, Role::Learning(_)) {
            self.learner_continue(out);
        }
    }

    /// Resumes a blocked learner once none of the writes it waits for is in flight, then works
    /// through the packets that arrived meanwhile.
    fn learner_continue(&mut self, out: &mut Outputs) {
        while let Some(blocked) = self.learner_ref().blocked {
            if self.writes_in_flight(AfterWrite::LearnerStep) > 0 {
                return;
            }
            self.learner_mut().blocked = None;
            match blocked {
                Blocked::AckEpoch(new_epoch) => {
                    let current = new_epoch.then_some(self.current_epoch);
                    self.send_ack_epoch(current, out)
                }
                Blocked::Trunc => {}
                Blocked::NewLeaderUpdating => {
                    let zxid = self.learner_ref().newleader_zxid.expect("newleader");
                    self.new_leader_persist(zxid, out);
                    continue;
                }
                Blocked::NewLeaderLog => {
                    let epoch = self
                        .learner_ref()
                        .newleader_zxid
                        .expect("newleader")
                        .epoch();
                    self.write(DiskOp::CurrentEpoch(epoch), AfterWrite::LearnerStep, out);
                    self.learner_mut().blocked = Some(Blocked::NewLeaderEpoch);
                    continue;
                }
                Blocked::NewLeaderEpoch => {
                    self.write(DiskOp::UpdatingEpoch(false), AfterWrite::Nothing, out);
                    if let Some(reason) = self.learner_ref().lost_during_newleader {
                        // The NEWLEADER ack is where the learner thread next touches the
                        // socket, and finds it gone.
                        self.learner_shutdown(reason, out);
                        return;
                    }
                    let l = self.learner_mut();
                    let zxid = l.newleader_zxid.expect("newleader");
                    l.newleader_acked = true;
                    let leader = l.leader;
                    out.send(leader, Channel::Quorum, Message::Ack { zxid });
                    for p in l.not_logged.iter().filter(|p| p.ack_after_newleader) {
                        let zxid = p.txn.zxid;
                        out.send(leader, Channel::Quorum, Message::Ack { zxid });
                    }
                }
            }
            while self.learner_ref().blocked.is_none() {
                let Some(msg) = self.learner_mut().backlog.pop_front() else {
                    break;
                };
                self.learner_process(msg, out);
                if !matches!(self.role, Role::Learning(_)) {
                    return;
                }
            }
        }
    }

    pub(crate) fn learner_timer(&mut self, timer: Timer, out: &mut Outputs) {
        let now = self.now;
        let init = self.cfg.init_limit_us();
        let sync = self.cfg.sync_limit_us();
        let Role::Learning(l) = &mut self.role else {
            return;
        };
        match timer {
            Timer::LearnerRetry if l.stage == Stage::Connecting => self.send_learner_info(out),
            Timer::LearnerTimeout => {
                let limit = if l.newleader_acked { sync } else { init };
                let due = l.last_heard_us + limit;
                if now >= due {
                    self.learner_give_up(
                        "no packet from the leader within the socket timeout",
                        out,
                    );
                } else {
                    out.set_timer(Timer::LearnerTimeout, due);
                }
            }
            _ => {}
        }
    }

    /// A refused or broken connection: retry while connecting (within initLimit), else give
    /// up on the leader.
    pub(crate) fn learner_disconnected(&mut self, out: &mut Outputs) {
        let now = self.now;
        let init = self.cfg.init_limit_us();
        let l = self.learner_ref();
        if l.stage == Stage::Connecting && now < l.started_us + init {
            out.set_timer(Timer::LearnerRetry, now + CONNECT_RETRY_US);
            return;
        }
        self.learner_give_up("connection to the leader broke", out);
    }

    /// The leader is gone or silent. Learner.syncWithLeader handles NEWLEADER with synchronous
    /// disk I/O (updatingEpoch marker, snapshot, synced txns, currentEpoch) and notices a dead
    /// socket only when it writes the ack, so a learner inside those writes finishes them
    /// first. Leaving in the middle would strand a snapshot taken from the new leader beside
    /// the old currentEpoch: the server would vote as if it had never seen that epoch, and a
    /// leader from the old epoch could order it to truncate below the snapshot.
    fn learner_give_up(&mut self, reason: &'static str, out: &mut Outputs) {
        let l = self.learner_mut();
        if matches!(
            l.blocked,
            Some(Blocked::NewLeaderUpdating | Blocked::NewLeaderLog | Blocked::NewLeaderEpoch)
        ) {
            l.lost_during_newleader.get_or_insert(reason);
            return;
        }
        self.learner_shutdown(reason, out);
    }

    /// `Learner.shutdown`: close the socket and look for a leader again.
    pub(crate) fn learner_shutdown(&mut self, reason: &str, out: &mut Outputs) {
        out.event(Event::LearnerShutdown {
            reason: reason.to_string(),
        });
        let leader = self.learner_ref().leader;
        out.items.push(Output::Close {
            peer: Endpoint::Server(leader),
            channel: Channel::Quorum,
        });
        if let Some((base, log)) = self.learner_mut().pre_snap.take() {
            // Learner.shutdown: a SNAP sync that did not finish fully shuts the server down,
            // which clears the database; it is loaded again from the files, which never saw
            // the leader's snapshot.
            self.base = base;
            self.log = log;
            self.reload_tree(out);
        }
        if self.cfg.has(Bug::Zk4712) {
            // The old SyncRequestProcessor is left running: the txns it still holds are not
            // part of what this server reports, yet they reach the log later.
            let unflushed: Vec<Zxid> = self.unflushed_appends().collect();
            self.log.retain(|t| !unflushed.contains(&t.zxid));
        }
        self.start_looking(out);
    }
}
