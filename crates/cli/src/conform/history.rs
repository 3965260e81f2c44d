//! A real run as a history the simulator's client-visible checkers can judge
//! ([`check::recorded`]), built only from what the run showed.
//!
//! Where each step comes from:
//! * the clients' own events (`Connected`, `Submitted`, `Answered`, `Watch`, the recipes'
//!   events, `Crashed`, `Paused`, ...), recorded by the real clients as the simulated ones
//!   record them (see `conform::client`);
//! * a server's reply reaching a client: the client proxy's record of the reply header (xid,
//!   zxid). A client's answer is placed at its reply's moment on the wire, and a watch event
//!   at its notification's, since that is when the client library receives them: the
//!   checkers then judge the order the server sent things in, which is ZooKeeper's promise;
//! * `Proposed`: every txn in any server's log, with what it does (the txn record after the
//!   header), the request it answers (the header's session and cxid, which is the client's
//!   xid) and its epoch's leader as proposer. It is placed at the header's time, the leader's
//!   clock when it made the txn;
//! * `Committed`: each txn of the committed history (the final leader's log), at the first
//!   moment the run shows it committed: its leader's COMMIT on the quorum wire, or any reply
//!   at or past its zxid (a server answers at zxid z only once it has applied z, and applies
//!   only what is committed). A txn with neither is committed at the end;
//! * `Established`: each election the servers' logs show, at "leading - broadcast";
//! * at the end, each server's state: its `srvr` role, its epoch files, and its log, which is
//!   its delivered history when the log goes back to the run's first txn and holds the txn of
//!   its newest snapshot. A server whose history came to it in a snapshot (a SNAP sync) is
//!   left out and said so: snapshots are not read;
//! * the final reads: once the clients stop, an auditor per server reads back every znode an
//!   acknowledged write changed (`conform::client` `audit`); `linearizable-writes` holds each
//!   answer to the acknowledged writes up to its zxid, which shows what a server really serves
//!   even where its tree and its log disagree;
//! * the liveness deadline, at the end of the run, when the run lasted `liveness_ms` past the
//!   last fault.

use super::real::{Done, RealRun};
use check::recorded::{self, EndState, Recorded, Step};
use conform::client_proxy::Frame;
use conform::txnlog::{TxnBody, TxnRecord};
use conform::Mode;
use std::collections::{BTreeMap, BTreeSet};
use zab::client_api::{ClientEvent, EventType, KeeperError, SessionId};
use zab::db::RequestId;
use zab::{ClientId, Config, Event, Message, Path, ServerId, ServerSet, ServerState, Txn};
use zab::{TxnOp, ZabPhase, Zxid};

/// The checkers' verdict on a real run.
#[derive(Clone, Debug, Default)]
pub struct Judged {
    pub violations: Vec<check::Violation>,
    /// What the evidence could not show (a server's history that starts with a snapshot, a
    /// txn type the reader does not decode, a run too short for the liveness checks).
    pub notes: Vec<String>,
}

/// Judges a real run with the client-visible checkers.
pub fn judge(real: &RealRun, sc: &scenario::Scenario, zk: zab::ZkVersion) -> Judged {
    let (rec, notes) = recorded(real, sc, zk);
    Judged {
        violations: recorded::judge(&rec),
        notes,
    }
}

fn us(ms: f64) -> u64 {
    (ms.max(0.0) * 1000.0).round() as u64
}

fn sid(id: u64) -> ServerId {
    ServerId(u8::try_from(id).unwrap_or(u8::MAX))
}

/// `KeeperException.Code` by number, for the codes an error txn carries.
fn keeper_error(code: i32) -> Option<KeeperError> {
    Some(match code {
        -4 => KeeperError::ConnectionLoss,
        -101 => KeeperError::NoNode,
        -110 => KeeperError::NodeExists,
        -103 => KeeperError::BadVersion,
        -111 => KeeperError::NotEmpty,
        -108 => KeeperError::NoChildrenForEphemerals,
        -112 => KeeperError::SessionExpired,
        -8 => KeeperError::BadArguments,
        -118 => KeeperError::SessionMoved,
        _ => return None,
    })
}

/// A number the real clients wrote as decimal text.
fn number(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What a logged txn does, in the model's terms; `None` for what the reader cannot decode.
fn op_of(t: &TxnRecord) -> Option<TxnOp> {
    let session = SessionId(t.client_id as u64);
    Some(match &t.body {
        TxnBody::Create {
            path,
            data,
            ephemeral,
            parent_cversion,
        } => TxnOp::Create {
            path: Path::from(path.as_str()),
            data: number(data),
            ephemeral_owner: if *ephemeral { session } else { SessionId::NONE },
            parent_cversion: *parent_cversion,
        },
        TxnBody::Delete { path } => TxnOp::Delete {
            path: Path::from(path.as_str()),
        },
        TxnBody::SetData {
            path,
            data,
            version,
        } => TxnOp::SetData {
            path: Path::from(path.as_str()),
            data: number(data),
            version: *version,
        },
        TxnBody::CreateSession { timeout_ms } => TxnOp::CreateSession {
            session,
            timeout_ms: u32::try_from(*timeout_ms).unwrap_or(0),
        },
        TxnBody::CloseSession { .. } => TxnOp::CloseSession { session },
        // How zabsim writes a scenario's initial txn (persistence's `header_and_record`):
        // no session, and an error code no failed request has.
        TxnBody::Error { err: 0 } if t.client_id == 0 => TxnOp::Initial,
        TxnBody::Error { err } => TxnOp::Error {
            err: keeper_error(*err)?,
        },
        TxnBody::Other => return None,
    })
}

/// The wire's code for a watch event's type (`Watcher.Event.EventType`).
fn event_code(kind: EventType) -> i32 {
    match kind {
        EventType::NodeCreated => 1,
        EventType::NodeDeleted => 2,
        EventType::NodeDataChanged => 3,
        EventType::NodeChildrenChanged => 4,
    }
}

/// Builds the history; the notes say what it had to leave out.
pub fn recorded(
    real: &RealRun,
    sc: &scenario::Scenario,
    zk: zab::ZkVersion,
) -> (Recorded, Vec<String>) {
    let mut notes = Vec::new();
    let mut steps: Vec<(u64, Step)> = Vec::new();
    let run_ms = |unix_ms: i64| (unix_ms - real.t0_unix_ms) as f64;
    let end_us = us(sc.run.duration_ms as f64).max(us(real.wall_ms));

    // Sessions to clients.
    let mut client_of: BTreeMap<i64, ClientId> = BTreeMap::new();
    for c in real.clients.iter().chain(&real.audit) {
        for s in &c.sessions {
            client_of.insert(*s, ClientId(c.client));
        }
    }
    // Epochs to their leaders.
    let leader_of: BTreeMap<u64, ServerId> = real
        .elections
        .iter()
        .map(|e| (e.epoch, sid(e.leader)))
        .collect();

    // Every txn any server logged, once; servers that disagree are named.
    let mut txns: BTreeMap<i64, (&TxnRecord, u64)> = BTreeMap::new();
    for (id, s) in &real.servers {
        if let Some(e) = &s.txn_error {
            notes.push(format!("s{id}'s txn log could not be read: {e}"));
        }
        for t in &s.txns {
            match txns.get(&t.zxid) {
                None => {
                    txns.insert(t.zxid, (t, *id));
                }
                Some((first, by)) if *first != t => notes.push(format!(
                    "s{by} and s{id} logged different txns at zxid {}",
                    Zxid(t.zxid as u64)
                )),
                Some(_) => {}
            }
        }
    }
    let txn_of = |t: &TxnRecord, notes: &mut Vec<String>| -> Option<Txn> {
        let zxid = Zxid(t.zxid as u64);
        let Some(op) = op_of(t) else {
            notes.push(format!(
                "the txn at zxid {zxid} ({}) is of a kind the checkers are not shown",
                conform::txnlog::txn_type_name(t.txn_type)
            ));
            return None;
        };
        let request = client_of
            .get(&t.client_id)
            .filter(|_| t.cxid > 0)
            .map(|client| RequestId {
                client: *client,
                cxid: t.cxid as u64,
            });
        let initial = op == TxnOp::Initial;
        Some(Txn::from(zab::TxnFields {
            zxid,
            proposer: leader_of
                .get(&zxid.epoch())
                .copied()
                .filter(|_| !initial)
                .unwrap_or(ServerId::NONE),
            request,
            op,
        }))
    };

    // When each committed txn is first shown committed.
    let committed: BTreeSet<i64> = match real.leader.and_then(|l| real.servers.get(&l)) {
        Some(s) => s.txns.iter().map(|t| t.zxid).collect(),
        None => BTreeSet::new(),
    };
    let mut shown: BTreeMap<i64, f64> = BTreeMap::new();
    for p in &real.packets {
        if p.kind == conform::packet::kind::COMMIT {
            let t = run_ms(p.time_ms);
            shown
                .entry(p.zxid)
                .and_modify(|v| *v = v.min(t))
                .or_insert(t);
        }
    }
    let mut high = 0i64;
    for w in &real.wire {
        if let Frame::Reply { zxid, .. } = w.frame {
            if zxid > high {
                for (z, _) in txns.range(high + 1..=zxid) {
                    shown
                        .entry(*z)
                        .and_modify(|v| *v = v.min(w.time_ms))
                        .or_insert(w.time_ms);
                }
                high = zxid;
            }
        }
    }
    for (zxid, (t, _)) in &txns {
        let Some(txn) = txn_of(t, &mut notes) else {
            continue;
        };
        let is_committed = committed.contains(zxid) || shown.contains_key(zxid);
        let commit_us = shown.get(zxid).map_or(end_us, |ms| us(*ms));
        let proposed_us = us(run_ms(t.time_ms)).min(commit_us);
        let id = txn.id();
        steps.push((
            proposed_us,
            Step::Server {
                id: txn.proposer,
                event: Event::Proposed {
                    txn: id,
                    op: txn.op.clone(),
                    request: txn.request,
                },
            },
        ));
        if is_committed {
            steps.push((
                commit_us,
                Step::Server {
                    id: txn.proposer,
                    event: Event::Committed {
                        txn: id,
                        acks: ServerSet::new(),
                    },
                },
            ));
        }
    }
    for e in &real.elections {
        steps.push((
            us(e.established_ms),
            Step::Server {
                id: sid(e.leader),
                event: Event::Established {
                    epoch: e.epoch,
                    quorum: Vec::new(),
                },
            },
        ));
    }
    client_steps(real, &mut steps);
    // Equal times keep the order pushed: a reply before the answer it carries.
    steps.sort_by_key(|(t, _)| *t);

    // The end: after everything recorded (the final reads come after the run's duration).
    let end_us = steps.last().map_or(end_us, |(t, _)| end_us.max(*t));
    for a in &real.audit {
        notes.extend(a.problems.iter().map(|p| format!("final reads: {p}")));
    }
    let (ends, cut) = end_states(real, &txn_of, &mut notes);
    let members: Vec<ServerId> = sc
        .cluster
        .participants
        .iter()
        .chain(&sc.cluster.observers)
        .copied()
        .collect();
    steps.push((end_us, Step::End));
    for (id, e) in &ends {
        steps.push((
            end_us,
            Step::Server {
                id: *id,
                event: Event::Delivered {
                    from: 0,
                    count: e.tree.applied.len(),
                },
            },
        ));
    }
    let faults_over_us = real.faults.last().map_or(0, |f| us(f.at_ms));
    if end_us >= faults_over_us + sc.run.liveness_ms * 1000 {
        steps.push((end_us, Step::Deadline { faults_over_us }));
    } else {
        notes.push(format!(
            "the run ended {} ms after its last fault, less than liveness_ms ({} ms): the liveness checks (progress, and the expiry checks of ephemeral-cleanup) did not run",
            (end_us - faults_over_us.min(end_us)) / 1000,
            sc.run.liveness_ms
        ));
    }
    let config = Config {
        participants: sc.cluster.participants.clone(),
        observers: sc.cluster.observers.clone(),
        tick_us: sc.cluster.tick_ms * 1000,
        init_limit: sc.cluster.init_limit,
        sync_limit: sc.cluster.sync_limit,
        snap_count: sc.cluster.snap_count,
        initial_zxid_counter: 0,
        bugs: zab::BugSet::default(),
        version: zk,
        seed: sc.seed,
    };
    let rec = Recorded {
        config,
        members,
        steps,
        ends,
        cut,
    };
    (rec, notes)
}

/// The clients' events, and the replies they came in, placed as the module docs say.
fn client_steps(real: &RealRun, steps: &mut Vec<(u64, Step)>) {
    for c in real.clients.iter().chain(&real.audit) {
        let id = ClientId(c.client);
        // The wire as this client saw it: replies by (session, xid), notifications in order.
        let mut session_of_conn: BTreeMap<(u64, u32), i64> = BTreeMap::new();
        let mut replies: BTreeMap<(i64, i32), (f64, u64, i64)> = BTreeMap::new();
        let mut notifications: Vec<(f64, u64, i32, String)> = Vec::new();
        for w in real.wire.iter().filter(|w| w.client == c.client) {
            let key = (w.server, w.conn);
            match &w.frame {
                Frame::ConnectResponse { session, .. } => {
                    session_of_conn.insert(key, *session);
                }
                Frame::Reply { xid, zxid, .. } if *xid > 0 => {
                    if let Some(s) = session_of_conn.get(&key) {
                        replies.insert((*s, *xid), (w.time_ms, w.server, *zxid));
                    }
                }
                Frame::Notification { kind, path, .. } => {
                    notifications.push((w.time_ms, w.server, *kind, path.clone()));
                }
                _ => {}
            }
        }
        let mut session: Option<i64> = None;
        let mut used = vec![false; notifications.len()];
        for e in &c.events {
            let own = us(e.time_ms);
            match &e.event {
                ClientEvent::Connected { session: s, .. } => session = Some(s.0 as i64),
                ClientEvent::Crashed => session = None,
                _ => {}
            }
            match &e.event {
                ClientEvent::Answered {
                    cxid,
                    zxid: Some(z),
                    result,
                    ..
                } => {
                    let reply = session
                        .zip(i32::try_from(*cxid).ok())
                        .and_then(|key| replies.get(&key));
                    if let Some((t, server, _)) = reply {
                        let t = us(*t);
                        steps.push((
                            t,
                            Step::Reply {
                                server: sid(*server),
                                client: id,
                                msg: Message::ClientReply {
                                    cxid: *cxid,
                                    zxid: *z,
                                    result: result.clone(),
                                },
                            },
                        ));
                        steps.push((
                            t,
                            Step::Client {
                                id,
                                event: e.event.clone(),
                            },
                        ));
                        continue;
                    }
                }
                ClientEvent::Watch { event, .. } => {
                    let code = event_code(event.kind);
                    let found = notifications.iter().enumerate().position(|(i, n)| {
                        !used[i] && n.2 == code && n.3 == event.path.as_str() && n.0 <= e.time_ms
                    });
                    if let Some(i) = found {
                        used[i] = true;
                        steps.push((
                            us(notifications[i].0),
                            Step::Client {
                                id,
                                event: e.event.clone(),
                            },
                        ));
                        continue;
                    }
                }
                _ => {}
            }
            steps.push((
                own,
                Step::Client {
                    id,
                    event: e.event.clone(),
                },
            ));
        }
    }
}

type TxnOf<'a> = dyn Fn(&TxnRecord, &mut Vec<String>) -> Option<Txn> + 'a;

/// Each running server's state at the end, and the links cut then.
fn end_states(
    real: &RealRun,
    txn_of: &TxnOf<'_>,
    notes: &mut Vec<String>,
) -> (BTreeMap<ServerId, EndState>, BTreeSet<(ServerId, ServerId)>) {
    // Faults still in force at the end: pauses not resumed, links not healed.
    let mut paused: BTreeSet<u64> = BTreeSet::new();
    let mut cuts: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    let all: Vec<u64> = real.servers.keys().copied().collect();
    for (i, f) in real.faults.iter().enumerate() {
        match &f.done {
            Done::Pause(id) => {
                paused.insert(*id);
            }
            Done::Resume(id) => {
                paused.remove(id);
            }
            Done::Partition { sides, one_way } => {
                let mut pairs = Vec::new();
                for (a, side) in sides.iter().enumerate() {
                    for other in sides.iter().skip(a + 1) {
                        for x in side {
                            for y in other {
                                pairs.push((*x, *y));
                                if !one_way {
                                    pairs.push((*y, *x));
                                }
                            }
                        }
                    }
                }
                cuts.insert(i, pairs);
            }
            Done::Isolate(id) => {
                let pairs = all
                    .iter()
                    .filter(|o| *o != id)
                    .flat_map(|o| [(*id, *o), (*o, *id)])
                    .collect();
                cuts.insert(i, pairs);
            }
            Done::Heal(Some(of)) => {
                cuts.remove(of);
            }
            Done::Heal(None) => cuts.clear(),
            _ => {}
        }
    }
    let cut = cuts
        .values()
        .flatten()
        .map(|(a, b)| (sid(*a), sid(*b)))
        .collect();
    let leader = real.leader.map(sid);
    // The run's first txn, as far as any server's log reaches back.
    let first_zxid = real
        .servers
        .values()
        .filter_map(|s| s.txns.first().map(|t| t.zxid))
        .min();
    let mut ends = BTreeMap::new();
    for (id, s) in &real.servers {
        if !s.running {
            continue;
        }
        if s.txn_error.is_some() {
            continue;
        }
        // Its log is its whole delivered history when it goes back to the run's first txn and
        // holds the txn its newest snapshot was taken at: then nothing came to it only inside
        // a snapshot (a SNAP from a leader leaves a log that starts after the snapshot).
        let newest_snapshot = s.snapshots.iter().copied().max().unwrap_or(0);
        let from_start = s.txns.first().map(|t| t.zxid) == first_zxid || s.txns.is_empty();
        let holds_snapshot =
            newest_snapshot <= 0 || s.txns.iter().any(|t| t.zxid == newest_snapshot);
        if !(from_start && holds_snapshot) {
            notes.push(format!(
                "s{id}'s log does not hold its whole history (its newest snapshot is at zxid {}, its log starts at {}); without reading snapshots its end state is not judged",
                Zxid(newest_snapshot as u64),
                s.txns.first().map_or("nothing".into(), |t| Zxid(t.zxid as u64).to_string())
            ));
            continue;
        }
        let log: Vec<Txn> = s.txns.iter().filter_map(|t| txn_of(t, notes)).collect();
        let tree = recorded::replayed(log.clone());
        let mode = s.srvr.as_ref().filter(|v| v.serving).and_then(|v| v.mode);
        let epoch = s.current_epoch;
        let (state, phase, established, role_leader) = match mode {
            Some(Mode::Leader | Mode::Standalone) => (
                ServerState::Leading,
                ZabPhase::Broadcast,
                true,
                Some(sid(*id)),
            ),
            Some(Mode::Follower) => (ServerState::Following, ZabPhase::Broadcast, false, leader),
            Some(Mode::Observer) => (ServerState::Observing, ZabPhase::Broadcast, false, leader),
            // A read-only server is cut off from a quorum: it serves reads but has no role.
            Some(Mode::ReadOnly) | None => (ServerState::Looking, ZabPhase::Election, false, None),
        };
        ends.insert(
            sid(*id),
            EndState {
                state,
                phase,
                leader: role_leader,
                established,
                role_epoch: mode.and(epoch),
                accepted_epoch: s.accepted_epoch.unwrap_or(0),
                current_epoch: epoch.unwrap_or(0),
                paused: paused.contains(id),
                log,
                tree,
            },
        );
    }
    (ends, cut)
}

#[cfg(test)]
mod tests;
