//! The leader: `Leader.lead()` and one `LearnerHandler` per connected learner.
//!
//! Discovery collects acceptedEpochs and fixes the new epoch (getEpochToPropose), then a
//! quorum of ACKEPOCHs (waitForEpochAck). Synchronization sends each learner DIFF, TRUNC or
//! SNAP (syncFollower), the outstanding proposals (startForwarding) and NEWLEADER; a quorum of
//! NEWLEADER acks establishes the epoch (waitForNewLeaderAck, startZkServer). Broadcast
//! proposes, collects ACKs and commits in zxid order (propose, processAck, tryToCommit).

use crate::bug::Bug;
use crate::client_api::{ClientOp, SessionId};
use crate::db::{DataTree, RequestId, Snapshot, Txn, TxnOp};
use crate::ids::{Channel, Endpoint, ServerId, ServerSet, Zxid};
use crate::io::{Event, Output, Outputs, SyncMode, Timer, ZabPhase};
use crate::log_files;
use crate::message::{Message, Request, RequestOp, ServerState};
use crate::prep::prep_write;
use crate::server::{AfterWrite, Role, Server};
use crate::sessions::SessionTracker;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

/// Where a `LearnerHandler` is in its conversation with its learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO received; LEADERINFO waits for the new epoch.
    AwaitEpoch,
    /// LEADERINFO sent.
    AwaitAckEpoch,
    /// ACKEPOCH received; sync waits for a quorum of ACKEPOCHs.
    AwaitSync,
    /// Sync packets and NEWLEADER sent; the first ACK must acknowledge NEWLEADER.
    AwaitNewLeaderAck,
    /// NEWLEADER acknowledged; UPTODATE waits for the leader to establish.
    AwaitStartup,
    /// UPTODATE sent: the learner is in broadcast.
    Running,
}

#[derive(Debug)]
struct Handler {
    observer: bool,
    stage: Stage,
    peer_last_zxid: Zxid,
    /// In forwardingFollowers / observingLearners: receives PROPOSAL+COMMIT or INFORM.
    forwarding: bool,
    /// `tickOfNextAckDeadline`.
    ack_deadline_tick: u64,
    sync_check: SyncLimitCheck,
}

/// `LearnerHandler.SyncLimitCheck` (LearnerHandler.java:152-202 at 3.8.0, 153-203 at 3.9.4,
/// the same in both): once the learner is synced, the handler times the oldest proposal it
/// sent that is not yet acknowledged, keeping only that one and the latest; at each ping a
/// learner whose tracked proposal is syncLimit ticks old is dropped, even while it pings.
#[derive(Debug, Default)]
struct SyncLimitCheck {
    started: bool,
    current: Option<(Zxid, u64)>,
    next: Option<(Zxid, u64)>,
}

impl SyncLimitCheck {
    /// `updateProposal`, when a PROPOSAL goes out to the learner.
    fn proposal(&mut self, zxid: Zxid, now: u64) {
        if !self.started {
            return;
        }
        if self.current.is_none() {
            self.current = Some((zxid, now));
        } else {
            self.next = Some((zxid, now));
        }
    }

    /// `updateAck`.
    fn ack(&mut self, zxid: Zxid) {
        if self.current.is_some_and(|(z, _)| z == zxid) {
            self.current = self.next.take();
        } else if self.next.is_some_and(|(z, _)| z == zxid) {
            self.next = None;
        }
    }

    /// `check`: false once the tracked proposal is `limit_us` old.
    fn ok(&self, now: u64, limit_us: u64) -> bool {
        self.current
            .is_none_or(|(_, sent)| now.saturating_sub(sent) < limit_us)
    }
}

#[derive(Debug)]
struct Proposal {
    txn: Txn,
    acks: ServerSet,
}

pub(crate) struct Leader {
    pub(crate) epoch: u64,
    pub(crate) epoch_decided: bool,
    accepted_epoch_durable: bool,
    /// connectingFollowers: participants that reported their acceptedEpoch.
    connecting: BTreeSet<ServerId>,
    /// electingFollowers: participants whose ACKEPOCH counts.
    electing: BTreeSet<ServerId>,
    election_finished: bool,
    /// leaderStateSummary: (currentEpoch, lastZxid) when leading began.
    summary: (u64, Zxid),
    newleader_acks: BTreeSet<ServerId>,
    pub(crate) established: bool,
    learners: BTreeMap<ServerId, Handler>,
    last_proposed: Zxid,
    outstanding: BTreeMap<Zxid, Proposal>,
    last_committed: Zxid,
    /// The last zxid of the committed log (what sync may send).
    committed_upto: Zxid,
    tick: u64,
    tick_skip: bool,
    /// The tree with every proposed txn applied, committed or not: what PrepRequestProcessor
    /// checks requests against (ZooKeeper's outstandingChanges over the DataTree).
    prepped: DataTree,
    pub(crate) tracker: SessionTracker,
    /// `pendingSyncs`: syncs waiting for the proposal that was last when they arrived.
    pending_syncs: BTreeMap<Zxid, Vec<Request>>,
}

impl Server {
    fn leader_mut(&mut self) -> &mut Leader {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    fn leader_ref(&self) -> &Leader {
        match &self.role {
            Role::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    /// `Leader.lead()` up to its first wait.
    pub(crate) fn become_leader(&mut self, out: &mut Outputs) {
        self.role_gen += 1;
        let summary = (self.current_epoch, self.last_zxid());
        self.role = Role::Leading(Box::new(Leader {
            epoch: 0,
            epoch_decided: false,
            accepted_epoch_durable: false,
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            election_finished: false,
            summary,
            newleader_acks: BTreeSet::new(),
            established: false,
            learners: BTreeMap::new(),
            last_proposed: Zxid::default(),
            outstanding: BTreeMap::new(),
            last_committed: Zxid::default(),
            committed_upto: self.log.last().map(|t| t.zxid).unwrap_or(self.base.zxid),
            tick: 0,
            tick_skip: true,
            prepped: DataTree::default(),
            tracker: SessionTracker::default(),
            pending_syncs: BTreeMap::new(),
        }));
        self.set_state(ServerState::Leading, ZabPhase::Discovery, out);
        // Leader.lead -> ZooKeeperServer.loadData, which ends with takeSnapshot() (not
        // fsynced): Leader.java:597 / ZooKeeperServer.java:529 at 3.8.0, 646 / 551 at 3.9.4.
        self.take_snapshot(false, AfterWrite::Nothing, out);
        self.timers
            .set(Timer::LeaderInit, self.now + self.cfg.init_limit_us());
        if self.cfg.has(Bug::Zk335) {
            // Before ZOOKEEPER-335 the epoch came from the leader's own last zxid.
            let epoch = self.last_zxid().epoch() + 1;
            let me = self.id;
            let l = self.leader_mut();
            l.epoch = epoch;
            l.connecting.insert(me);
            self.decide_epoch(out);
        } else {
            self.get_epoch_to_propose(self.id, self.accepted_epoch, out);
        }
    }

    /// `getEpochToPropose`: every learner's acceptedEpoch raises the proposal; a quorum of
    /// participants (with the leader) fixes it.
    fn get_epoch_to_propose(&mut self, sid: ServerId, accepted_epoch: u64, out: &mut Outputs) {
        // isParticipant; the observer-votes variant lets observers count as well.
        let is_participant = self.cfg.has_vote(sid);
        let l = self.leader_mut();
        if l.epoch_decided {
            return;
        }
        if accepted_epoch >= l.epoch {
            l.epoch = accepted_epoch + 1;
        }
        if is_participant {
            l.connecting.insert(sid);
        }
        let me = self.id;
        let l = self.leader_ref();
        if l.connecting.contains(&me) && self.cfg.is_quorum(l.connecting.iter().copied()) {
            self.decide_epoch(out);
        }
    }

    fn decide_epoch(&mut self, out: &mut Outputs) {
        let now = self.now;
        let init = self.cfg.init_limit_us();
        let l = self.leader_mut();
        l.epoch_decided = true;
        let epoch = l.epoch;
        l.last_proposed = Zxid::new(epoch, 0);
        out.event(Event::EpochDecided { epoch });
        self.timers.set(Timer::LeaderInit, now + init);
        self.write(
            crate::db::DiskOp::AcceptedEpoch(epoch),
            AfterWrite::LeaderAcceptedEpoch,
            out,
        );
    }

    pub(crate) fn leader_accepted_epoch_durable(&mut self, out: &mut Outputs) {
        let l = self.leader_mut();
        l.accepted_epoch_durable = true;
        let epoch = l.epoch;
        let waiting: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.stage == Stage::AwaitEpoch)
            .map(|(s, _)| *s)
            .collect();
        for sid in waiting {
            self.leader_mut()
                .learners
                .get_mut(&sid)
                .expect("handler")
                .stage = Stage::AwaitAckEpoch;
            out.send(sid, Channel::Quorum, Message::LeaderInfo { epoch });
        }
        let summary = self.leader_ref().summary;
        self.wait_for_epoch_ack(self.id, Some(summary.0), summary.1, out);
    }

    /// `waitForEpochAck`: a quorum of ACKEPOCHs (with the leader's own) ends discovery.
    /// Returns false if the learner must be dropped for being ahead of the leader.
    fn wait_for_epoch_ack(
        &mut self,
        sid: ServerId,
        current_epoch: Option<u64>,
        last_zxid: Zxid,
        out: &mut Outputs,
    ) -> bool {
        let is_participant = self.cfg.has_vote(sid);
        let l = self.leader_mut();
        if l.election_finished {
            return true;
        }
        if let Some(ce) = current_epoch {
            let (lce, lzxid) = l.summary;
            if ce > lce || (ce == lce && last_zxid > lzxid) {
                return false; // "Follower is ahead of the leader"
            }
            if is_participant {
                l.electing.insert(sid);
            }
        }
        let me = self.id;
        let l = self.leader_ref();
        if l.electing.contains(&me) && self.cfg.is_quorum(l.electing.iter().copied()) {
            self.election_finished(out);
        }
        true
    }

    fn election_finished(&mut self, out: &mut Outputs) {
        let now = self.now;
        let init = self.cfg.init_limit_us();
        let l = self.leader_mut();
        l.election_finished = true;
        let epoch = l.epoch;
        self.set_state(ServerState::Leading, ZabPhase::Synchronization, out);
        self.timers.set(Timer::LeaderInit, now + init);
        self.write(
            crate::db::DiskOp::CurrentEpoch(epoch),
            AfterWrite::LeaderCurrentEpoch,
            out,
        );
        let waiting: Vec<ServerId> = self
            .leader_ref()
            .learners
            .iter()
            .filter(|(_, h)| h.stage == Stage::AwaitSync)
            .map(|(s, _)| *s)
            .collect();
        for sid in waiting {
            self.sync_learner(sid, out);
        }
        if self.cfg.has(Bug::Zk790) {
            // Before ZOOKEEPER-790 the leader started serving as soon as it had an epoch.
            self.establish(out);
        }
    }

    pub(crate) fn leader_current_epoch_durable(&mut self, out: &mut Outputs) {
        let epoch = self.leader_ref().epoch;
        self.wait_for_new_leader_ack(self.id, Zxid::new(epoch, 0), out);
    }

    /// `waitForNewLeaderAck`: a quorum of participants acknowledging NEWLEADER establishes
    /// the epoch.
    fn wait_for_new_leader_ack(&mut self, sid: ServerId, zxid: Zxid, out: &mut Outputs) {
        let is_participant = self.cfg.is_participant(sid) || self.cfg.has_vote(sid);
        let l = self.leader_mut();
        if l.established {
            return;
        }
        if zxid != Zxid::new(l.epoch, 0) {
            let reason = format!(
                "NEWLEADER ACK from {sid} is from a different epoch: expected {}, received {zxid}",
                Zxid::new(l.epoch, 0)
            );
            out.event(Event::ProtocolError { reason });
            return;
        }
        if is_participant {
            l.newleader_acks.insert(sid);
        }
        let me = self.id;
        let l = self.leader_ref();
        if l.newleader_acks.contains(&me) && self.cfg.is_quorum(l.newleader_acks.iter().copied()) {
            self.establish(out);
        }
    }

    /// `startZkServer`: the epoch is established; commit the initial history and serve.
    fn establish(&mut self, out: &mut Outputs) {
        let now = self.now;
        let tick = self.cfg.tick_us;
        let initial = self.cfg.initial_zxid_counter;
        let l = self.leader_mut();
        if l.established {
            return;
        }
        l.established = true;
        let epoch = l.epoch;
        l.last_committed = Zxid::new(epoch, 0);
        l.last_proposed = Zxid::new(epoch, initial);
        let quorum: Vec<ServerId> = l.newleader_acks.iter().copied().collect();
        let ready: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.stage == Stage::AwaitStartup)
            .map(|(s, _)| *s)
            .collect();
        for sid in &ready {
            let h = l.learners.get_mut(sid).expect("handler");
            h.stage = Stage::Running;
            h.sync_check.started = true;
        }
        out.event(Event::Established { epoch, quorum });
        self.deliver_all(out);
        self.tree.last_processed = Zxid::new(epoch, 0);
        // A new leader knows nothing of when sessions were last heard from: each one gets a
        // full timeout from now, as ZooKeeper's leader does when it loads its database.
        let prepped = self.tree.clone();
        let l = self.leader_mut();
        for (session, timeout_ms) in prepped.sessions() {
            l.tracker.add(*session, *timeout_ms, now, tick);
        }
        l.prepped = prepped;
        self.timers.set(Timer::SessionTick, (now / tick + 1) * tick);
        self.current_vote.peer_epoch = epoch;
        self.set_state(ServerState::Leading, ZabPhase::Broadcast, out);
        self.timers.cancel(Timer::LeaderInit);
        self.timers.set(Timer::LeaderTick, now + tick / 2);
        for sid in ready {
            out.send(sid, Channel::Quorum, Message::UpToDate);
        }
    }

    pub(crate) fn leader_receive(&mut self, sid: ServerId, msg: Message, out: &mut Outputs) {
        let tick = self.leader_ref().tick;
        let sync_limit = u64::from(self.cfg.sync_limit);
        if let Some(h) = self.leader_mut().learners.get_mut(&sid) {
            if h.stage == Stage::Running || h.stage == Stage::AwaitStartup {
                h.ack_deadline_tick = tick + sync_limit;
            }
        }
        match msg {
            Message::FollowerInfo { accepted_epoch } => {
                self.learner_connected(sid, false, accepted_epoch, out)
            }
            Message::ObserverInfo { accepted_epoch } => {
                self.learner_connected(sid, true, accepted_epoch, out)
            }
            Message::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(sid, current_epoch, last_zxid, out),
            Message::Ack { zxid } => self.on_learner_ack(sid, zxid, out),
            // Requests before the leader serves are dropped, as ZooKeeperServer does while it
            // is not running.
            Message::Request(req) if self.leader_ref().established => self.leader_submit(req, out),
            Message::Ping { sessions } if self.leader_ref().established => {
                for (session, _) in sessions {
                    self.leader_touch(session);
                }
            }
            Message::Revalidate {
                session,
                timeout_ms,
                ..
            } if self.leader_ref().established => {
                let valid = self.leader_touch(session);
                if valid {
                    // Leader.revalidateSession: the learner's handler owns the session now.
                    self.leader_mut().tracker.set_owner(session, sid);
                }
                let msg = Message::Revalidate {
                    session,
                    timeout_ms,
                    valid,
                };
                out.send(sid, Channel::Quorum, msg);
            }
            _ => {}
        }
    }

    fn learner_connected(
        &mut self,
        sid: ServerId,
        observer: bool,
        accepted_epoch: u64,
        out: &mut Outputs,
    ) {
        if !self.cfg.is_member(sid) || sid == self.id {
            out.items.push(Output::Close {
                peer: Endpoint::Server(sid),
                channel: Channel::Quorum,
            });
            return;
        }
        let tick = self.leader_ref().tick;
        let deadline = tick + u64::from(self.cfg.init_limit) + u64::from(self.cfg.sync_limit);
        let handler = Handler {
            observer,
            stage: Stage::AwaitEpoch,
            peer_last_zxid: Zxid::default(),
            forwarding: false,
            ack_deadline_tick: deadline,
            sync_check: SyncLimitCheck::default(),
        };
        self.leader_mut().learners.insert(sid, handler);
        if !self.cfg.has(Bug::Zk335) {
            self.get_epoch_to_propose(sid, accepted_epoch, out);
        }
        let l = self.leader_mut();
        if l.epoch_decided && l.accepted_epoch_durable {
            let epoch = l.epoch;
            l.learners.get_mut(&sid).expect("handler").stage = Stage::AwaitAckEpoch;
            out.send(sid, Channel::Quorum, Message::LeaderInfo { epoch });
        }
    }

    fn on_ack_epoch(
        &mut self,
        sid: ServerId,
        current_epoch: Option<u64>,
        last_zxid: Zxid,
        out: &mut Outputs,
    ) {
        match self.leader_mut().learners.get_mut(&sid) {
            Some(h) if h.stage == Stage::AwaitAckEpoch => {
                h.stage = Stage::AwaitSync;
                h.peer_last_zxid = last_zxid;
            }
            _ => return,
        }
        if !self.wait_for_epoch_ack(sid, current_epoch, last_zxid, out) {
            // LearnerHandler throws "Follower is ahead of the leader" and closes the socket.
            self.leader_mut().learners.remove(&sid);
            out.items.push(Output::Close {
                peer: Endpoint::Server(sid),
                channel: Channel::Quorum,
            });
            return;
        }
        if self.leader_ref().election_finished {
            self.sync_learner(sid, out);
        }
    }

    fn on_learner_ack(&mut self, sid: ServerId, zxid: Zxid, out: &mut Outputs) {
        let Some(stage) = self.leader_ref().learners.get(&sid).map(|h| h.stage) else {
            return;
        };
        match stage {
            Stage::AwaitNewLeaderAck => {
                // The handler reads exactly one packet and takes it as the NEWLEADER ack.
                self.wait_for_new_leader_ack(sid, zxid, out);
                let l = self.leader_mut();
                let established = l.established;
                let h = l.learners.get_mut(&sid).expect("handler");
                if established {
                    h.stage = Stage::Running;
                    h.sync_check.started = true;
                    out.send(sid, Channel::Quorum, Message::UpToDate);
                } else {
                    h.stage = Stage::AwaitStartup;
                }
            }
            Stage::AwaitStartup | Stage::Running if !self.leader_ref().learners[&sid].observer => {
                if let Some(h) = self.leader_mut().learners.get_mut(&sid) {
                    h.sync_check.ack(zxid);
                }
                self.leader_process_ack(sid, zxid, out);
            }
            _ => {}
        }
    }

    /// `LearnerHandler.syncFollower` and what run() queues after it: the sync packets, the
    /// outstanding proposals (startForwarding) and NEWLEADER.
    fn sync_learner(&mut self, sid: ServerId, out: &mut Outputs) {
        let (peer_last, observer) = match self.leader_ref().learners.get(&sid) {
            // Only once per connection: the ACKEPOCH that completes the quorum syncs every
            // waiting learner, itself included.
            Some(h) if h.stage == Stage::AwaitSync => (h.peer_last_zxid, h.observer),
            _ => return,
        };
        let epoch = self.leader_ref().epoch;
        let last_processed = self.tree.last_processed;
        // An empty committedLog counts as one ending at lastProcessedZxid (LearnerHandler
        // .java:814-827 / 815-828).
        let (min_committed, max_committed) =
            match (self.committed_log.min(), self.committed_log.max()) {
                (Some(min), Some(max)) => (min, max),
                _ => (last_processed, last_processed),
            };
        let new_epoch_zxid = peer_last.counter() == 0;
        let mut packets: Vec<Message> = Vec::new();
        let mut need_op = true;
        let mut need_snap = true;
        let mut current = peer_last;
        if last_processed == peer_last {
            packets.push(Message::Diff { zxid: peer_last });
            need_op = false;
            need_snap = false;
        } else if peer_last > max_committed && !new_epoch_zxid {
            packets.push(Message::Trunc {
                zxid: max_committed,
            });
            current = max_committed;
            need_op = false;
            need_snap = false;
        } else if min_committed <= peer_last && peer_last <= max_committed {
            current = self.queue_committed_proposals(
                self.committed_log.iter(),
                peer_last,
                None,
                max_committed,
                &mut packets,
                &mut need_op,
            );
            need_snap = false;
        } else if peer_last < min_committed {
            // The learner is behind the committedLog: read the txn log files from its zxid
            // on, then the committedLog (LearnerHandler.java:873-906 / 874-907;
            // snapshotSizeFactor is 0.33, so txnLogSyncEnabled).
            let newest_snapshot = self.snapshots.last().map(|s| &**s);
            if let Some(txns) =
                log_files::proposals_from(&self.log_files, &self.log, newest_snapshot, peer_last)
            {
                current = self.queue_committed_proposals(
                    txns.iter(),
                    peer_last,
                    Some(min_committed),
                    max_committed,
                    &mut packets,
                    &mut need_op,
                );
                if current < min_committed {
                    // "Detected gap between end of txnlog ... and start of committedLog".
                    current = peer_last;
                    packets.clear();
                    need_op = true;
                } else {
                    current = self.queue_committed_proposals(
                        self.committed_log.iter(),
                        current,
                        None,
                        max_committed,
                        &mut packets,
                        &mut need_op,
                    );
                    need_snap = false;
                }
            }
        }
        if need_op && !need_snap {
            need_snap = true; // "Unhandled scenario ... fall back to use snapshot"
        }
        if need_snap {
            current = last_processed;
            packets.clear();
            let snapshot = Arc::new(Snapshot {
                zxid: last_processed,
                tree: self.tree.clone(),
            });
            packets.push(Message::Snap { snapshot });
        }
        let (mode, zxid) = match &packets[0] {
            Message::Diff { zxid } => (SyncMode::Diff, *zxid),
            Message::Trunc { zxid } => (SyncMode::Trunc, *zxid),
            Message::Snap { snapshot } => (SyncMode::Snap, snapshot.zxid),
            _ => unreachable!("sync starts with DIFF, TRUNC or SNAP"),
        };
        out.event(Event::SyncDecision {
            learner: sid,
            mode,
            zxid,
            peer_last_zxid: peer_last,
        });
        // startForwarding: outstanding proposals beyond what the learner will have.
        let forget_acks = !self.cfg.has(Bug::AckOutlivesTrunc);
        let l = self.leader_mut();
        if !observer && l.last_proposed > current {
            for p in l
                .outstanding
                .range_mut((Excluded(current), Unbounded))
                .map(|(_, p)| p)
            {
                packets.push(Message::Proposal { txn: p.txn.clone() });
                // The learner's log will hold nothing above `current` until it logs these
                // again, so an ACK it sent for one of them on an earlier connection no longer
                // vouches for anything: a TRUNC has just undone it. ZooKeeper keeps such ACKs
                // in the proposal's ack set (Leader.processAck), which lets a proposal commit
                // on a copy that no longer exists; zabsim's correct protocol forgets them and
                // waits for the ACKs that follow the re-sent proposals.
                if forget_acks {
                    p.acks.remove(sid);
                } else if p.acks.contains(sid) {
                    out.fired(Bug::AckOutlivesTrunc);
                }
            }
        }
        packets.push(Message::NewLeader {
            zxid: Zxid::new(epoch, 0),
        });
        let h = self.leader_mut().learners.get_mut(&sid).expect("handler");
        h.forwarding = true;
        h.stage = Stage::AwaitNewLeaderAck;
        for msg in packets {
            out.send(sid, Channel::Quorum, msg);
        }
    }

    /// `queueCommittedProposals`: DIFF if the learner's last zxid is in our history, TRUNC to
    /// the txn before it if not (ZOOKEEPER-1154), and no op packet at all if that TRUNC would
    /// cross an epoch (the caller then falls back to SNAP).
    fn queue_committed_proposals<'a>(
        &self,
        proposals: impl Iterator<Item = &'a Txn>,
        peer_last: Zxid,
        max_zxid: Option<Zxid>,
        last_committed: Zxid,
        packets: &mut Vec<Message>,
        need_op: &mut bool,
    ) -> Zxid {
        let new_epoch_zxid = peer_last.counter() == 0;
        let mut queued = peer_last;
        let mut prev = Zxid::default();
        for txn in proposals {
            let z = txn.zxid;
            if max_zxid.is_some_and(|max| z > max) {
                break;
            }
            if z < peer_last {
                prev = z;
                continue;
            }
            if *need_op {
                if z == peer_last {
                    packets.push(Message::Diff {
                        zxid: last_committed,
                    });
                    *need_op = false;
                    continue;
                }
                if new_epoch_zxid || self.cfg.has(Bug::Zk1154) {
                    packets.push(Message::Diff {
                        zxid: last_committed,
                    });
                    *need_op = false;
                } else if z > peer_last {
                    if z.epoch() != peer_last.epoch() {
                        return queued; // "Cannot send TRUNC to peer ... different epoch"
                    }
                    packets.push(Message::Trunc { zxid: prev });
                    *need_op = false;
                }
            }
            if z <= queued {
                continue;
            }
            packets.push(Message::Proposal { txn: txn.clone() });
            packets.push(Message::Commit { zxid: z });
            queued = z;
        }
        if *need_op && new_epoch_zxid {
            packets.push(Message::Diff {
                zxid: last_committed,
            });
            *need_op = false;
        }
        queued
    }

    pub(crate) fn leader_timer(&mut self, timer: Timer, out: &mut Outputs) {
        if !matches!(self.role, Role::Leading(_)) {
            return;
        }
        match timer {
            Timer::LeaderInit => {
                let l = self.leader_ref();
                if l.established {
                    return;
                }
                let reason = if !l.epoch_decided {
                    "Timeout while waiting for epoch from quorum".to_string()
                } else if !l.election_finished {
                    "Timeout while waiting for epoch to be acked by quorum".to_string()
                } else {
                    let acks: Vec<String> =
                        l.newleader_acks.iter().map(|s| s.to_string()).collect();
                    format!(
                        "Waiting for a quorum of followers, only synced with sids: [ {} ]",
                        acks.join(", ")
                    )
                };
                self.leader_shutdown(reason, out);
            }
            Timer::LeaderTick => self.leader_tick(out),
            Timer::SessionTick => self.session_tick(out),
            _ => {}
        }
    }

    /// One iteration of lead()'s ping loop: twice a tick, check for a synced quorum every
    /// other time, then ping every learner.
    fn leader_tick(&mut self, out: &mut Outputs) {
        let now = self.now;
        let half_tick = self.cfg.tick_us / 2;
        let me = self.id;
        let l = self.leader_mut();
        if !l.tick_skip {
            l.tick += 1;
        }
        let tick = l.tick;
        let mut synced = vec![me];
        synced.extend(
            l.learners
                .iter()
                .filter(|(_, h)| tick <= h.ack_deadline_tick)
                .map(|(s, _)| *s),
        );
        let skip = l.tick_skip;
        if !skip && !self.cfg.is_quorum(synced.iter().copied()) {
            let ids: Vec<String> = synced.iter().map(|s| s.to_string()).collect();
            self.leader_shutdown(
                format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    ids.join(", ")
                ),
                out,
            );
            return;
        }
        let limit = self.cfg.sync_limit_us();
        let l = self.leader_mut();
        l.tick_skip = !l.tick_skip;
        let ping: Vec<ServerId> = l
            .learners
            .iter()
            .filter(|(_, h)| {
                matches!(
                    h.stage,
                    Stage::AwaitNewLeaderAck | Stage::AwaitStartup | Stage::Running
                )
            })
            .map(|(s, _)| *s)
            .collect();
        for sid in ping {
            // LearnerHandler.ping (LearnerHandler.java:1066-1081 / 1067-1082): a learner whose
            // oldest tracked proposal is unacknowledged for syncLimit ticks is dropped
            // ("Closing connection to peer due to transaction timeout.").
            if !self.leader_ref().learners[&sid].sync_check.ok(now, limit) {
                self.leader_mut().learners.remove(&sid);
                out.items.push(Output::Close {
                    peer: Endpoint::Server(sid),
                    channel: Channel::Quorum,
                });
                continue;
            }
            let sessions = Vec::new();
            out.send(sid, Channel::Quorum, Message::Ping { sessions });
        }
        self.timers.set(Timer::LeaderTick, now + half_tick);
    }

    pub(crate) fn leader_lost_learner(&mut self, sid: ServerId) {
        self.leader_mut().learners.remove(&sid);
    }

    /// `Leader.shutdown`: close every learner's connection and look for a leader again.
    pub(crate) fn leader_shutdown(&mut self, reason: String, out: &mut Outputs) {
        out.event(Event::LeaderShutdown { reason });
        let learners: Vec<ServerId> = self.leader_ref().learners.keys().copied().collect();
        for sid in learners {
            out.items.push(Output::Close {
                peer: Endpoint::Server(sid),
                channel: Channel::Quorum,
            });
        }
        // Leader.shutdown -> ZooKeeperServer.shutdown: a leader that served flushes its txn
        // log (ProposalRequestProcessor.shutdown -> SyncRequestProcessor.shutdown) before
        // fastForwardDataBase, in every release (Leader.java:833 at 3.8.0, :882 at 3.9.4).
        let running = self.leader_ref().established;
        self.leave_role(running, true, out);
    }

    /// `SessionTrackerImpl.run`: once a tick, sessions not heard from within their timeout
    /// expire; each one's closeSession is proposed with no client request behind it.
    fn session_tick(&mut self, out: &mut Outputs) {
        let now = self.now;
        let tick = self.cfg.tick_us;
        let l = self.leader_mut();
        if !l.established {
            return;
        }
        for session in l.tracker.expire_due(now) {
            self.propose(TxnOp::CloseSession { session }, None, out);
            if !matches!(self.role, Role::Leading(_)) {
                return;
            }
        }
        self.timers.set(Timer::SessionTick, (now / tick + 1) * tick);
    }

    /// Keeps a session alive; false if the leader does not know it or it is closing.
    pub(crate) fn leader_touch(&mut self, session: SessionId) -> bool {
        let (now, tick) = (self.now, self.cfg.tick_us);
        self.leader_mut().tracker.touch(session, now, tick)
    }

    /// `PrepRequestProcessor` for a request of a client connected here or forwarded by a
    /// learner: a new session, a write, or a sync.
    pub(crate) fn leader_submit(&mut self, req: Request, out: &mut Outputs) {
        let (now, tick) = (self.now, self.cfg.tick_us);
        let l = self.leader_mut();
        let op = match &req.op {
            RequestOp::CreateSession { timeout_ms } => {
                l.tracker.add(req.session, *timeout_ms, now, tick);
                l.tracker.set_owner(req.session, req.via);
                TxnOp::CreateSession {
                    session: req.session,
                    timeout_ms: *timeout_ms,
                }
            }
            RequestOp::Client(ClientOp::Sync { .. }) => return self.leader_sync(req, out),
            RequestOp::Client(op) => {
                let valid = l.tracker.is_active(req.session);
                let Some(mut txn_op) = prep_write(&l.prepped, req.session, valid, op) else {
                    return; // reads are never forwarded
                };
                // PrepRequestProcessor checks the owner of every write but closeSession (the
                // expirer closes sessions it does not own): a write still in flight from a
                // server the client has left becomes an error txn (ErrorTxn SESSIONMOVED).
                if valid
                    && !matches!(txn_op, TxnOp::CloseSession { .. })
                    && !l.tracker.owned_by(req.session, req.via)
                {
                    txn_op = TxnOp::Error {
                        err: crate::client_api::KeeperError::SessionMoved,
                    };
                }
                if let TxnOp::CloseSession { session } = txn_op {
                    l.tracker.set_closing(session);
                }
                txn_op
            }
        };
        let request = RequestId {
            client: req.client,
            cxid: req.cxid,
        };
        self.propose(op, Some(request), out);
    }

    /// `Leader.processSync`: a sync is answered once every proposal made before it commits.
    fn leader_sync(&mut self, req: Request, out: &mut Outputs) {
        let l = self.leader_mut();
        if l.outstanding.is_empty() {
            self.send_sync(req, out);
        } else {
            let last = l.last_proposed;
            l.pending_syncs.entry(last).or_default().push(req);
        }
    }

    /// `Leader.sendSync`: the server the client is connected to answers it; a learner learns
    /// of it behind the COMMITs that precede it on the same channel.
    fn send_sync(&mut self, req: Request, out: &mut Outputs) {
        if req.via == self.id {
            self.sync_done(&req, out);
        } else {
            out.send(req.via, Channel::Quorum, Message::Sync { request: req });
        }
    }

    /// `Leader.propose`: assign the next zxid, send PROPOSAL to the forwarding followers and
    /// log it; the leader's own ACK follows the fsync.
    pub(crate) fn propose(&mut self, op: TxnOp, request: Option<RequestId>, out: &mut Outputs) {
        let l = self.leader_ref();
        let next = Zxid(l.last_proposed.0.wrapping_add(1));
        if next.counter() == Zxid::COUNTER_MAX && !self.cfg.has(Bug::Zk1277) {
            let reason = format!("zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start (next zxid {next})");
            self.leader_shutdown(reason, out);
            return;
        }
        let txn = Txn {
            zxid: next,
            proposer: self.id,
            request,
            op,
        };
        let now = self.now;
        let l = self.leader_mut();
        l.prepped.apply(&txn);
        l.last_proposed = next;
        l.outstanding.insert(
            next,
            Proposal {
                txn: txn.clone(),
                acks: ServerSet::new(),
            },
        );
        let followers: Vec<ServerId> = l
            .learners
            .iter_mut()
            .filter(|(_, h)| h.forwarding && !h.observer)
            .map(|(s, h)| {
                h.sync_check.proposal(next, now);
                *s
            })
            .collect();
        out.event(Event::Proposed {
            txn: txn.id(),
            op: txn.op.clone(),
            request,
        });
        for sid in followers {
            out.send(sid, Channel::Quorum, Message::Proposal { txn: txn.clone() });
        }
        self.log_txn(txn, AfterWrite::SelfAck(next), out);
    }

    /// `Leader.processAck`.
    pub(crate) fn leader_process_ack(&mut self, sid: ServerId, zxid: Zxid, out: &mut Outputs) {
        if !matches!(self.role, Role::Leading(_)) || zxid.counter() == 0 {
            return;
        }
        let has_vote = self.cfg.has_vote(sid);
        let l = self.leader_mut();
        if !l.established || zxid <= l.last_committed {
            return;
        }
        let Some(p) = l.outstanding.get_mut(&zxid) else {
            return;
        };
        if has_vote {
            p.acks.insert(sid);
        }
        self.try_to_commit(zxid, out);
    }

    /// `Leader.tryToCommit`: strictly in zxid order, on a quorum of ACKs.
    fn try_to_commit(&mut self, zxid: Zxid, out: &mut Outputs) -> bool {
        let me = self.id;
        let l = self.leader_ref();
        if l.outstanding.contains_key(&Zxid(zxid.0.wrapping_sub(1))) {
            return false;
        }
        let p = &l.outstanding[&zxid];
        let ok = if self.cfg.has(Bug::CommitBeforeQuorum) {
            p.acks.contains(me)
        } else {
            self.cfg.is_quorum(p.acks.iter())
        };
        if !ok {
            return false;
        }
        let l = self.leader_mut();
        let p = l.outstanding.remove(&zxid).expect("outstanding");
        l.last_committed = zxid;
        l.committed_upto = zxid;
        out.event(Event::Committed {
            txn: p.txn.id(),
            acks: p.acks,
        });
        // Followers get COMMIT first, then observers INFORM, each in id order.
        for (sid, h) in &l.learners {
            if h.forwarding && !h.observer {
                out.send(*sid, Channel::Quorum, Message::Commit { zxid });
            }
        }
        for (sid, h) in &l.learners {
            if h.forwarding && h.observer {
                out.send(
                    *sid,
                    Channel::Quorum,
                    Message::Inform { txn: p.txn.clone() },
                );
            }
        }
        self.apply_committed(&p.txn, out);
        if !matches!(self.role, Role::Leading(_)) {
            return true;
        }
        let l = self.leader_mut();
        let later = l.pending_syncs.split_off(&Zxid(zxid.0.wrapping_add(1)));
        let due = std::mem::replace(&mut l.pending_syncs, later);
        for req in due.into_values().flatten() {
            self.send_sync(req, out);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::client_api::CreateMode;
    use crate::ids::ClientId;
    use crate::ids::Zxid;
    use crate::io::Event;
    use crate::io::SyncMode;
    use crate::message::Message;
    use crate::testkit::{connect, create, ok, Cluster, TICK_US};

    /// Cuts `lagging` off, commits `writes` txns without it, lets it back in and returns how
    /// the leader synced it: (mode, the learner's last zxid, the leader's last zxid).
    fn resync_after(c: &mut Cluster, writes: u64) -> (SyncMode, Zxid, Zxid) {
        let leader = c.leader();
        let lagging = c.follower();
        let client = ClientId(1);
        connect(c, client, leader);
        c.isolate(lagging);
        for i in 0..writes {
            ok(
                c,
                client,
                leader,
                i + 1,
                create(&format!("/n{i}"), CreateMode::Persistent),
            );
        }
        c.run_for(20 * TICK_US);
        c.heal(lagging);
        c.run_for(40 * TICK_US);
        let decision = c.events.iter().rev().find_map(|(id, e)| match e {
            Event::SyncDecision {
                learner,
                mode,
                peer_last_zxid,
                ..
            } if *id == leader && *learner == lagging => Some((*mode, *peer_last_zxid)),
            _ => None,
        });
        let (mode, peer_last) = decision.expect("the lagging follower was synced again");
        let last = c.server(leader).tree.last_processed;
        assert_eq!(
            c.server(lagging).tree.applied,
            c.server(leader).tree.applied,
            "after the sync the follower holds what the leader holds"
        );
        (mode, peer_last, last)
    }

    /// LearnerHandler.syncFollower: a learner more than commitLogCount (500) txns behind is
    /// past the committedLog, and the leader reads its txn log files instead; with no log
    /// roll since the learner's zxid, the files it reads past are none, so it sends DIFF.
    #[test]
    fn a_learner_behind_the_committed_log_is_diffed_from_the_txn_log() {
        let mut c = Cluster::with_snap_count(3, &[], 100_000);
        let (mode, peer_last, _) = resync_after(&mut c, 520);
        let min = c.server(c.leader()).committed_log.min().expect("committed");
        assert!(
            peer_last < min,
            "{peer_last} is behind the committedLog from {min}"
        );
        assert_eq!(mode, SyncMode::Diff);
    }

    /// The same learner, but the leader's log rolled (periodic snapshots every ~100 txns)
    /// after the learner's zxid: the later files are preallocated to 64 MiB, more than a
    /// third of the snapshot, so ZooKeeper gives the txn log up and sends SNAP.
    #[test]
    fn a_learner_behind_the_committed_log_and_a_log_roll_gets_snap() {
        let mut c = Cluster::with_snap_count(3, &[], 100);
        let (mode, peer_last, last) = resync_after(&mut c, 520);
        assert!(c.server(c.leader()).log_files.len() > 2);
        assert_eq!(mode, SyncMode::Snap, "from {peer_last} to {last}");
    }

    /// Within the committedLog the leader sends DIFF whatever its log files look like.
    #[test]
    fn a_learner_within_the_committed_log_is_diffed() {
        let mut c = Cluster::with_snap_count(3, &[], 100);
        let (mode, _, _) = resync_after(&mut c, 300);
        assert_eq!(mode, SyncMode::Diff);
        assert_eq!(
            c.server(c.leader()).committed_log.min(),
            Some(Zxid::new(1, 1))
        );
    }

    /// LearnerHandler.SyncLimitCheck: a follower whose disk stalls keeps answering PINGs, so it
    /// looks synced, but it never acknowledges the proposal it was sent; syncLimit (5) ticks
    /// later the leader drops it at a ping.
    #[test]
    fn a_follower_that_pings_but_never_acks_is_dropped_after_sync_limit() {
        let mut c = Cluster::new(3, &[]);
        let leader = c.leader();
        let stalled = c.follower();
        c.stall_disk(stalled);
        let client = ClientId(1);
        connect(&mut c, client, leader);
        let write = Message::ClientRequest {
            cxid: 1,
            op: create("/a", CreateMode::Persistent),
        };
        c.send(client, leader, write);
        let dropped = |c: &Cluster| {
            c.events
                .iter()
                .any(|(id, e)| *id == stalled && matches!(e, Event::LearnerShutdown { .. }))
        };
        c.run_for(4 * TICK_US);
        assert!(!dropped(&c), "still within syncLimit");
        c.run_for(2 * TICK_US);
        assert!(
            dropped(&c),
            "{stalled} is dropped once its proposal is 5 ticks old"
        );
        assert_eq!(c.leader(), leader, "the other follower keeps the quorum");
    }
}
