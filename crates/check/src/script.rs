//! Scripted histories for checker tests: a [`FakeView`] driven the way the simulator reports a
//! real run. Each helper is one server step: it first brings the view to the end of the step,
//! then reports the step's happenings in output order, as the simulator does.
//!
//! Client helpers (sessions, requests, replies, watch events, recipe reports) are in
//! [`crate::client_script`].
//!
//! [`eventful_run`] is a whole run with crashes, restarts, SNAP and TRUNC resyncs and three
//! leader changes, plus variants with the bugs the delivery checkers are meant to catch.

use crate::fake::{FakeServer, FakeView};
use crate::{Checker, Happening, Violation};
use std::sync::Arc;
use zab::{
    db::RequestId, ClientId, DataTree, DiskOp, Endpoint, Event, Message, ServerId, ServerState,
    Snapshot, SyncMode, Txn, TxnId, TxnOp, ZabPhase, Zxid,
};

pub fn z(epoch: u64, counter: u64) -> Zxid {
    Zxid::new(epoch, counter)
}

/// An initial txn of a scenario's `[[server]] log`.
pub fn initial(epoch: u64, counter: u64) -> Txn {
    Txn::initial(z(epoch, counter))
}

/// A txn a leader proposes for a client write.
pub fn proposal(epoch: u64, counter: u64, proposer: u8) -> Txn {
    Txn::from(zab::TxnFields {
        zxid: z(epoch, counter),
        proposer: ServerId(proposer),
        request: Some(RequestId {
            client: ClientId(1),
            cxid: epoch * 100 + counter,
        }),
        op: TxnOp::SetData {
            path: "/k".into(),
            data: counter,
            version: counter as i32,
        },
    })
}

pub fn tid(epoch: u64, counter: u64, proposer: u8) -> TxnId {
    TxnId {
        zxid: z(epoch, counter),
        proposer: ServerId(proposer),
    }
}

pub struct Script<C> {
    pub v: FakeView,
    pub c: C,
    pub out: Vec<Violation>,
    /// The simulated clients' side of the script ([`crate::client_script`]).
    pub clients: crate::client_script::ClientsState,
    /// Which txns were delivered, to show each `Delivered` with what it adds as the simulator
    /// does ([`crate::delivery`]); `None` leaves the checker to work it out itself.
    pub deliveries: Option<crate::Deliveries>,
}

impl<C: Checker> Script<C> {
    pub fn new(n: u8, c: C) -> Self {
        Script {
            v: FakeView::new(n),
            c,
            out: Vec::new(),
            clients: Default::default(),
            deliveries: Some(crate::Deliveries::default()),
        }
    }

    /// The same script with every `Delivered` worked out by the checker itself, as a view
    /// without [`crate::View::delivery`] leaves it: both ways must judge alike.
    pub fn working_out_deliveries(mut self) -> Self {
        self.deliveries = None;
        self
    }

    /// Shows the checker a happening if it asked for its kind, as the simulator does: a
    /// checker whose [`Checker::interest`] leaves out something it needs fails its tests.
    pub fn happen(&mut self, h: Happening<'_>) {
        self.v.now += 1_000;
        if let (Some(ds), Some((id, range))) = (
            self.deliveries.as_mut(),
            crate::history::newly_delivered(&h),
        ) {
            if let Some(applied) = crate::View::applied(&self.v, id) {
                ds.record(crate::Delivery::of(id, range, applied));
                self.v.delivery = ds.current().cloned();
            }
        }
        if self.c.interest().contains(h.kind()) {
            self.c.on(&h, &self.v, &mut self.out);
        }
        self.v.delivery = None;
    }

    pub fn event(&mut self, id: u8, event: Event) {
        self.happen(Happening::Server {
            id: ServerId(id),
            event: &event,
        });
    }

    /// A message leaves `from` and arrives at `to`.
    pub fn send(&mut self, from: u8, to: u8, msg: Message) {
        let (from, to) = (
            Endpoint::Server(ServerId(from)),
            Endpoint::Server(ServerId(to)),
        );
        self.happen(Happening::Send {
            from,
            to,
            msg: &msg,
        });
        self.happen(Happening::Deliver {
            from,
            to,
            msg: &msg,
        });
    }

    pub fn take(&mut self) -> Vec<Violation> {
        std::mem::take(&mut self.out)
    }

    pub fn server(&mut self, id: u8) -> &mut FakeServer {
        self.v.servers.get_mut(&ServerId(id)).expect("server")
    }

    /// The scenario's initial disks, its `committed` declaration, then every server boots.
    pub fn start(&mut self, logs: &[(u8, Vec<Txn>)], committed: Option<Zxid>) {
        for (id, log) in logs {
            let disk = self.v.disks.get_mut(&ServerId(*id)).expect("disk");
            let epoch = log.last().map(|t| t.zxid.epoch()).unwrap_or(0);
            disk.accepted_epoch = epoch;
            disk.current_epoch = epoch;
            disk.log = log.clone();
        }
        if let Some(upto) = committed {
            self.happen(Happening::InitiallyCommitted { upto });
        }
        let ids: Vec<u8> = self.v.members.iter().map(|s| s.0).collect();
        for id in ids {
            self.boot(id);
        }
    }

    /// `Server::boot`: the tree from the newest snapshot and the log after it; nothing delivered.
    pub fn boot(&mut self, id: u8) {
        let disk = &self.v.disks[&ServerId(id)];
        let (base_zxid, mut tree) = disk
            .latest_snapshot()
            .map(|s| (s.zxid, s.tree.clone()))
            .unwrap_or_default();
        let log: Vec<Txn> = disk
            .log
            .iter()
            .filter(|t| t.zxid > base_zxid)
            .cloned()
            .collect();
        for t in &log {
            tree.apply(t);
        }
        let s = self.server(id);
        s.log = log;
        s.tree = tree;
        s.delivered = 0;
        s.state = ServerState::Looking;
        s.phase = ZabPhase::Election;
        s.leader = None;
        s.established = false;
        self.event(id, Event::TreeReset { kept: 0 });
        self.state_event(id);
    }

    pub fn crash(&mut self, id: u8) {
        self.v.down.insert(ServerId(id));
        self.v.unflushed.remove(&ServerId(id));
        self.happen(Happening::Crash { id: ServerId(id) });
    }

    pub fn restart(&mut self, id: u8) {
        self.v.down.remove(&ServerId(id));
        self.happen(Happening::Restart { id: ServerId(id) });
        self.boot(id);
    }

    /// A durable write, issued in one step and completed later.
    pub fn write(&mut self, id: u8, op: DiskOp) {
        self.happen(Happening::DiskIssued {
            id: ServerId(id),
            op: &op,
        });
        self.v
            .disks
            .get_mut(&ServerId(id))
            .expect("disk")
            .apply(&op);
        self.happen(Happening::DiskDurable {
            id: ServerId(id),
            op: &op,
        });
    }

    /// Logs a txn: in memory at once, durable after the write.
    pub fn log(&mut self, id: u8, t: &Txn) {
        self.server(id).log.push(t.clone());
        self.write(id, DiskOp::Append(t.clone()));
    }

    pub fn apply(&mut self, id: u8, t: &Txn) {
        self.server(id).tree.apply(t);
    }

    /// `Server::deliver_all`.
    pub fn deliver(&mut self, id: u8) {
        let s = self.server(id);
        if s.delivered != s.tree.applied.len() {
            let from = std::mem::replace(&mut s.delivered, s.tree.applied.len());
            let count = s.delivered;
            self.event(id, Event::Delivered { from, count });
        }
    }

    /// `Server::replace_tree`.
    pub fn replace_tree(&mut self, id: u8, tree: DataTree) {
        let s = self.server(id);
        let kept = s.tree.applied.common_prefix(&tree.applied);
        s.tree = tree;
        s.delivered = s.delivered.min(kept);
        self.event(id, Event::TreeReset { kept });
    }

    /// `Server::reload_tree`: the newest durable snapshot plus the in-memory log.
    pub fn reload_tree(&mut self, id: u8) {
        let disk = &self.v.disks[&ServerId(id)];
        let mut tree = disk
            .latest_snapshot()
            .map(|s| s.tree.clone())
            .unwrap_or_default();
        let base = tree.last_processed;
        for t in self.server(id).log.iter().filter(|t| t.zxid > base) {
            tree.apply(t);
        }
        self.replace_tree(id, tree);
    }

    fn state_event(&mut self, id: u8) {
        let s = &self.v.servers[&ServerId(id)];
        let (state, phase) = (s.state, s.phase);
        let epoch = self.v.disks[&ServerId(id)].current_epoch;
        self.event(
            id,
            Event::State {
                state,
                phase,
                epoch,
            },
        );
    }

    fn set(&mut self, id: u8, state: ServerState, phase: ZabPhase) {
        let s = self.server(id);
        s.state = state;
        s.phase = phase;
        self.state_event(id);
    }

    /// `start_looking` after a learner gave up: fast-forward the tree over the log (applied,
    /// not delivered) and look for a leader.
    pub fn learner_gives_up(&mut self, id: u8) {
        self.event(
            id,
            Event::LearnerShutdown {
                reason: "connection to the leader broke".into(),
            },
        );
        self.look(id);
    }

    pub fn look(&mut self, id: u8) {
        let s = self.server(id);
        let from = s.log.partition_point(|t| t.zxid <= s.tree.last_processed);
        let rest: Vec<Txn> = s.log[from..].to_vec();
        for t in &rest {
            s.tree.apply(t);
        }
        s.leader = None;
        s.established = false;
        self.set(id, ServerState::Looking, ZabPhase::Election);
    }

    /// Leader discovery up to the end of its quorum of ACKEPOCHs.
    pub fn lead(&mut self, id: u8, epoch: u64) {
        let s = self.server(id);
        s.leader = Some(ServerId(id));
        s.epoch = epoch;
        self.set(id, ServerState::Leading, ZabPhase::Discovery);
        self.event(id, Event::EpochDecided { epoch });
        self.write(id, DiskOp::AcceptedEpoch(epoch));
        self.set(id, ServerState::Leading, ZabPhase::Synchronization);
        self.write(id, DiskOp::CurrentEpoch(epoch));
    }

    /// A learner connects, accepts the epoch and sends ACKEPOCH.
    pub fn follow(&mut self, id: u8, leader: u8, epoch: u64) {
        let s = self.server(id);
        s.leader = Some(ServerId(leader));
        s.epoch = epoch;
        self.set(id, ServerState::Following, ZabPhase::Discovery);
        self.send(
            id,
            leader,
            Message::FollowerInfo {
                accepted_epoch: epoch - 1,
            },
        );
        self.send(leader, id, Message::LeaderInfo { epoch });
        self.write(id, DiskOp::AcceptedEpoch(epoch));
        self.set(id, ServerState::Following, ZabPhase::Synchronization);
        let last_zxid = self.v.servers[&ServerId(id)].tree.last_processed;
        self.send(
            id,
            leader,
            Message::AckEpoch {
                current_epoch: Some(epoch - 1),
                last_zxid,
                trunc_floor: None,
            },
        );
    }

    pub fn sync_decision(&mut self, leader: u8, learner: u8, mode: SyncMode, zxid: Zxid) {
        let peer_last_zxid = self.v.servers[&ServerId(learner)].tree.last_processed;
        self.event(
            leader,
            Event::SyncDecision {
                learner: ServerId(learner),
                mode,
                zxid,
                peer_last_zxid,
            },
        );
    }

    /// DIFF: the learner logs the leader's txns it lacks and applies them at NEWLEADER.
    pub fn diff(&mut self, learner: u8, leader: u8, txns: &[Txn]) {
        let zxid = self.v.servers[&ServerId(leader)]
            .log
            .last()
            .map(|t| t.zxid)
            .unwrap_or_default();
        self.sync_decision(leader, learner, SyncMode::Diff, zxid);
        self.send(leader, learner, Message::Diff { zxid });
        for t in txns {
            self.send(leader, learner, Message::Proposal { txn: t.clone() });
            self.send(leader, learner, Message::Commit { zxid: t.zxid });
        }
        for t in txns {
            self.log(learner, t);
            self.apply(learner, t);
        }
        self.new_leader(learner, leader, false);
    }

    /// TRUNC: the learner truncates its log, then reloads its tree once the write is durable
    /// (`keep_tree` is the zk-2845 variant, which keeps the in-memory tree).
    pub fn trunc(&mut self, learner: u8, leader: u8, to: Zxid, keep_tree: bool) {
        self.trunc_decision(learner, leader, to);
        self.trunc_received(learner, leader, to, keep_tree);
    }

    /// The leader decides on TRUNC and sends it.
    pub fn trunc_decision(&mut self, learner: u8, leader: u8, to: Zxid) {
        self.sync_decision(leader, learner, SyncMode::Trunc, to);
        self.happen(Happening::Send {
            from: Endpoint::Server(ServerId(leader)),
            to: Endpoint::Server(ServerId(learner)),
            msg: &Message::Trunc { zxid: to },
        });
    }

    /// The learner processes TRUNC.
    pub fn trunc_received(&mut self, learner: u8, leader: u8, to: Zxid, keep_tree: bool) {
        self.happen(Happening::Deliver {
            from: Endpoint::Server(ServerId(leader)),
            to: Endpoint::Server(ServerId(learner)),
            msg: &Message::Trunc { zxid: to },
        });
        let s = self.server(learner);
        let keep = s.log.partition_point(|t| t.zxid <= to);
        s.log.truncate(keep);
        self.write(learner, DiskOp::Truncate(to));
        if keep_tree {
            self.server(learner).tree.last_processed = to;
        } else {
            self.reload_tree(learner);
        }
        self.new_leader(learner, leader, true);
    }

    /// SNAP: the learner takes the leader's tree, and writes it as a snapshot that supersedes
    /// its log at NEWLEADER.
    pub fn snap(&mut self, learner: u8, leader: u8) {
        let tree = self.v.servers[&ServerId(leader)].tree.clone();
        let snapshot = Arc::new(Snapshot {
            zxid: tree.last_processed,
            tree: tree.clone(),
        });
        self.sync_decision(leader, learner, SyncMode::Snap, snapshot.zxid);
        self.send(leader, learner, Message::Snap { snapshot });
        self.server(learner).log.clear();
        self.replace_tree(learner, tree);
        let tree = self.v.servers[&ServerId(learner)].tree.clone();
        self.send(
            leader,
            learner,
            Message::NewLeader {
                zxid: z(self.v.servers[&ServerId(leader)].epoch, 0),
            },
        );
        self.write(
            learner,
            DiskOp::Snapshot {
                snapshot: Arc::new(Snapshot {
                    zxid: tree.last_processed,
                    tree,
                }),
                replaces_log: true,
            },
        );
        self.ack_new_leader(learner, leader);
    }

    /// NEWLEADER at the learner: a snapshot if needed, currentEpoch, then the ack.
    fn new_leader(&mut self, learner: u8, leader: u8, snapshot: bool) {
        let epoch = self.v.servers[&ServerId(leader)].epoch;
        self.send(leader, learner, Message::NewLeader { zxid: z(epoch, 0) });
        if snapshot {
            let tree = self.v.servers[&ServerId(learner)].tree.clone();
            self.write(
                learner,
                DiskOp::Snapshot {
                    snapshot: Arc::new(Snapshot {
                        zxid: tree.last_processed,
                        tree,
                    }),
                    replaces_log: false,
                },
            );
        }
        self.ack_new_leader(learner, leader);
    }

    fn ack_new_leader(&mut self, learner: u8, leader: u8) {
        let epoch = self.v.servers[&ServerId(leader)].epoch;
        self.write(learner, DiskOp::CurrentEpoch(epoch));
        self.send(learner, leader, Message::Ack { zxid: z(epoch, 0) });
    }

    /// `Leader::establish`: the view already shows the whole history delivered when
    /// `Established` is reported, then `Delivered` follows.
    pub fn establish(&mut self, id: u8, quorum: &[u8]) {
        let s = self.server(id);
        let before = s.delivered;
        s.established = true;
        s.phase = ZabPhase::Broadcast;
        s.delivered = s.tree.applied.len();
        let (epoch, count) = (s.epoch, s.delivered);
        self.event(
            id,
            Event::Established {
                epoch,
                quorum: quorum.iter().map(|q| ServerId(*q)).collect(),
            },
        );
        if count != before {
            self.event(
                id,
                Event::Delivered {
                    from: before,
                    count,
                },
            );
        }
        self.state_event(id);
    }

    /// UPTODATE at a learner: it delivers its history and serves.
    pub fn up_to_date(&mut self, learner: u8, leader: u8) {
        self.send(leader, learner, Message::UpToDate);
        let epoch = self.v.servers[&ServerId(leader)].epoch;
        self.send(learner, leader, Message::Ack { zxid: z(epoch, 0) });
        self.deliver(learner);
        self.set(learner, ServerState::Following, ZabPhase::Broadcast);
        self.event(
            learner,
            Event::Synced {
                leader: ServerId(leader),
                epoch,
            },
        );
    }

    /// `Leader::propose`, and the followers in `loggers` log it.
    pub fn propose(&mut self, leader: u8, counter: u64, loggers: &[u8]) -> Txn {
        let t = proposal(self.v.servers[&ServerId(leader)].epoch, counter, leader);
        // The step logs it in memory before its happenings are reported.
        self.server(leader).log.push(t.clone());
        self.event(
            leader,
            Event::Proposed {
                txn: t.id(),
                op: t.op.clone(),
                request: t.request,
            },
        );
        for f in loggers {
            self.send(leader, *f, Message::Proposal { txn: t.clone() });
        }
        self.write(leader, DiskOp::Append(t.clone()));
        for f in loggers {
            self.log(*f, &t);
            self.send(*f, leader, Message::Ack { zxid: t.zxid });
        }
        t
    }

    /// `Leader::try_to_commit` with these ACKs; the followers in `appliers` get the COMMIT.
    pub fn commit(&mut self, leader: u8, t: &Txn, acks: &[u8], appliers: &[u8]) {
        self.apply(leader, t);
        let s = self.server(leader);
        let from = std::mem::replace(&mut s.delivered, s.tree.applied.len());
        let count = s.delivered;
        self.event(
            leader,
            Event::Committed {
                txn: t.id(),
                acks: acks.iter().map(|a| ServerId(*a)).collect(),
            },
        );
        self.event(leader, Event::Delivered { from, count });
        for f in appliers {
            self.send(leader, *f, Message::Commit { zxid: t.zxid });
            self.apply(*f, t);
            self.deliver(*f);
        }
    }
}

/// Which history [`eventful_run`] plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The correct protocol.
    Correct,
    /// zk-2845: after TRUNC, s3 keeps the truncated (abandoned) 2:3@s3 applied in memory.
    Zk2845,
    /// zk-1154: s3 gets DIFF instead of TRUNC and keeps the abandoned 2:3@s3.
    Zk1154,
    /// commit-before-quorum: s2 commits 3:2@s2 on its own ACK; the next leader s3 lacks it
    /// and TRUNCs s2, which had it, below it.
    LostCommit,
}

/// A three-server run: s1 down at first; epoch 2 led by s3 (2:3 left uncommitted in its log
/// when it crashes); epoch 3 led by s2, which SNAPs s1 (dropping its uncommitted initial 1:3)
/// and TRUNCs the restarted s3 (which holds 2:3 applied, undelivered); epoch 4 led by s3,
/// which commits 3:3 (never committed before) at establishment and DIFFs s1 and the restarted
/// s2. The initial txns 1:1-2 are declared committed.
pub fn eventful_run<C: Checker>(checker: C, variant: Variant) -> Vec<Violation> {
    eventful_script(checker, variant).take()
}

/// [`eventful_run`], handing back the script (with the checker and its violations) at the end.
pub fn eventful_script<C: Checker>(checker: C, variant: Variant) -> Script<C> {
    eventful_from(Script::new(3, checker), variant)
}

/// [`eventful_script`] played on a given three-server script.
pub fn eventful_from<C: Checker>(mut s: Script<C>, variant: Variant) -> Script<C> {
    let lost = variant == Variant::LostCommit;
    let init = |n| (1..=n).map(|c| initial(1, c)).collect::<Vec<_>>();
    s.start(&[(1, init(3)), (2, init(2)), (3, init(2))], Some(z(1, 2)));
    s.crash(1);

    // Epoch 2: s3 leads (same last zxid as s2, higher id); s2 is in sync already.
    s.lead(3, 2);
    s.follow(2, 3, 2);
    s.diff(2, 3, &[]);
    s.establish(3, &[2, 3]);
    s.up_to_date(2, 3);
    for c in 1..=2 {
        let t = s.propose(3, c, &[2]);
        s.commit(3, &t, &[2, 3], &[2]);
    }
    s.propose(3, 3, &[]);
    s.crash(3);
    s.learner_gives_up(2);

    // Epoch 3: s2 (currentEpoch 2) beats the restarted s1 and SNAPs it.
    s.restart(1);
    s.lead(2, 3);
    s.follow(1, 2, 3);
    s.snap(1, 2);
    s.establish(2, &[1, 2]);
    s.up_to_date(1, 2);
    // s3 restarts with 2:3 applied but not delivered, and rejoins.
    s.restart(3);
    s.follow(3, 2, 3);
    match variant {
        Variant::Zk1154 => s.diff(3, 2, &[]),
        _ => s.trunc(3, 2, z(2, 2), variant == Variant::Zk2845),
    }
    s.up_to_date(3, 2);
    let t31 = s.propose(2, 1, &[1, 3]);
    s.commit(2, &t31, &[1, 2], &[1, 3]);
    // s1 loses its leader; 3:2 and 3:3 reach s3 (LostCommit: nobody, and s2 commits 3:2 on its
    // own ACK); s2 crashes before any COMMIT leaves.
    s.learner_gives_up(1);
    let loggers: &[u8] = if lost { &[] } else { &[3] };
    let acks: &[u8] = if lost { &[2] } else { &[2, 3] };
    let t32 = s.propose(2, 2, loggers);
    s.commit(2, &t32, acks, &[]);
    let t33 = s.propose(2, 3, loggers);
    s.crash(2);
    s.learner_gives_up(3);

    // Epoch 4: s3 leads (last zxid 3:3, or a tie at 3:1 it wins by id); DIFF to s1.
    s.lead(3, 4);
    s.follow(1, 3, 4);
    if lost {
        s.diff(1, 3, &[]);
    } else {
        s.diff(1, 3, &[t32, t33]);
    }
    s.establish(3, &[1, 3]);
    s.up_to_date(1, 3);
    // s2 restarts with 3:2 and 3:3 in its log (LostCommit: TRUNC to 3:1).
    s.restart(2);
    s.follow(2, 3, 4);
    if lost {
        s.trunc(2, 3, z(3, 1), false);
    } else {
        s.diff(2, 3, &[]);
    }
    s.up_to_date(2, 3);
    let t41 = s.propose(3, 1, &[1, 2]);
    s.commit(3, &t41, &[1, 3], &[1, 2]);
    s
}
