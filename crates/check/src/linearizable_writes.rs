//! `linearizable-writes`: acknowledged writes form one order consistent with real time, and an
//! acknowledged write is never lost.
//!
//! ZooKeeper orders every write by its zxid, so the zxid order is the witness: no search over
//! orders is needed. Real time constrains it in one way only: if write a was acknowledged
//! before write b was submitted, a must come first, so zxid(a) < zxid(b). Keeping the highest
//! acknowledged zxid at each submission makes that one comparison per answer.
//!
//! An acknowledgement names a txn: its zxid, and the request (client, cxid) the leader's
//! `Proposed` says it answers. That txn must be the one the ensemble delivers at that zxid: a
//! server delivering a different txn there lost the write (a follower kept a txn a new leader
//! truncated, two leaders shared an epoch, ...). And at the end of the run the longest
//! delivered history, if it has reached past that zxid, must hold it (a commit lost in a
//! failover leaves a hole the next leader's txns skip over).
//!
//! Only successful answers (`Ok`) to create, delete, setData and closeSession count; a write
//! that failed at the leader still takes a zxid but promises nothing.
//!
//! Reads show a lost write too. A server answers a read at the zxid it has applied (the reply
//! header), and it applies committed txns in zxid order, so a getData or exists answered at
//! zxid r must show every acknowledged write to that znode with a zxid up to r: the znode's
//! mzxid can be no older than the newest of them. A later write by anyone only makes mzxid
//! newer, and a delete and re-create too, so an older mzxid means the server that answered
//! does not have the acknowledged write.
//!
//! Incremental: one entry per write or read in flight and per acknowledged write; each
//! delivered txn and each answer is one map lookup. The end-of-run check walks one history
//! once. The request a proposal answers is kept only until the txn is delivered at an
//! acknowledged zxid; from then on what is kept is whether it was that write (the
//! acknowledged write's `confirmed`), which is all the end-of-run check asks of it. So
//! memory grows by one compact record per acknowledged write, which any later delivery,
//! read or the end of the run may have to name.

use crate::history::added;
use crate::txn_map::{partition_point_from_end, TxnMap};
use crate::txn_runs::TxnRuns;
use crate::{Checker, ClientEvent, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use zab::db::RequestId;
use zab::{ClientId, ClientOp, Event, Path, Reply, ServerId, TxnId, Zxid};

/// Which write or read, for messages: printed as "c1's create /a (operation 3)". Kept as
/// parts, not text, because only a violation ever prints it and every request carries one.
#[derive(Clone, Debug)]
struct What {
    client: ClientId,
    op: u64,
    name: &'static str,
    path: Option<Path>,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let What {
            client,
            op,
            name,
            path,
        } = self;
        match path {
            Some(path) => write!(f, "{client}'s {name} {path} (operation {op})"),
            None => write!(f, "{client}'s {name} (operation {op})"),
        }
    }
}

/// The kinds of write that are acknowledged, in a byte: a record is kept for every
/// acknowledged write of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Create,
    Delete,
    SetData,
    CloseSession,
}

impl Write {
    fn of(request: &ClientOp) -> Option<Write> {
        match request {
            ClientOp::Create { .. } => Some(Write::Create),
            ClientOp::Delete { .. } => Some(Write::Delete),
            ClientOp::SetData { .. } => Some(Write::SetData),
            ClientOp::CloseSession => Some(Write::CloseSession),
            ClientOp::GetData { .. }
            | ClientOp::Exists { .. }
            | ClientOp::GetChildren { .. }
            | ClientOp::Sync { .. } => None,
        }
    }

    /// `ClientOp::name` of the request (a test holds them equal).
    fn name(self) -> &'static str {
        match self {
            Write::Create => "create",
            Write::Delete => "delete",
            Write::SetData => "setData",
            Write::CloseSession => "closeSession",
        }
    }
}

/// An acknowledged write; its zxid is the key it is kept under.
#[derive(Clone, Debug)]
struct Acked {
    client: ClientId,
    cxid: u64,
    op: u64,
    write: Write,
    path: Option<Path>,
    at_us: u64,
    /// The proposer of the txn at this zxid found to answer this request, once one is
    /// delivered (others that do too, which no correct run has, go to `confirmed_more`).
    confirmed: Option<ServerId>,
}

impl Acked {
    fn request(&self) -> RequestId {
        RequestId {
            client: self.client,
            cxid: self.cxid,
        }
    }

    fn what(&self) -> What {
        What {
            client: self.client,
            op: self.op,
            name: self.write.name(),
            path: self.path.clone(),
        }
    }
}

/// A write submitted and not yet answered.
struct InFlight {
    what: What,
    write: Write,
    submitted_us: u64,
    /// The acknowledged write with the highest zxid when it was submitted.
    must_follow: Option<(Zxid, Acked)>,
}

#[derive(Default)]
pub struct LinearizableWrites {
    /// The request each client-request proposal answers, until the txn is delivered at an
    /// acknowledged zxid.
    requests: BTreeMap<TxnId, RequestId>,
    in_flight: BTreeMap<(ClientId, u64), InFlight>,
    latest: Option<(Zxid, Acked)>,
    acked: TxnMap<Acked, Zxid>,
    /// Txns beyond an acknowledged write's `confirmed` found to answer its request.
    confirmed_more: BTreeSet<TxnId>,
    /// Every txn some server delivered, with the first server that did.
    delivered: TxnRuns<ServerId>,
    /// Zxids whose loss is already reported.
    reported: BTreeSet<Zxid>,
    /// The zxids of the acknowledged writes to each znode, ascending.
    acked_by_path: BTreeMap<Path, Vec<Zxid>>,
    /// Reads of one znode (getData, exists) in flight.
    reads: BTreeMap<(ClientId, u64), What>,
    /// Path counts: first deliveries at an acknowledged zxid compared with the write,
    /// acknowledgements checked, reads compared with an acknowledged write to their znode,
    /// and end-of-run checks of the longest delivered history.
    deliveries: u64,
    acks: u64,
    reads_checked: u64,
    at_deadline: u64,
}

fn describe(client: ClientId, op: u64, request: &ClientOp) -> What {
    What {
        client,
        op,
        name: request.name(),
        path: request.path().cloned(),
    }
}

/// Every txn id with this zxid, whoever proposed it.
fn at_zxid(zxid: Zxid) -> (TxnId, TxnId) {
    (
        TxnId {
            zxid,
            proposer: ServerId(0),
        },
        TxnId {
            zxid,
            proposer: ServerId(u8::MAX),
        },
    )
}

/// `t`, delivered, meets the write acknowledged at its zxid: whether it answers that write's
/// request is decided now, and kept instead of the request. True if it does.
fn settle(
    requests: &mut BTreeMap<TxnId, RequestId>,
    confirmed_more: &mut BTreeSet<TxnId>,
    a: &mut Acked,
    t: TxnId,
) -> bool {
    if requests.remove(&t) != Some(a.request()) {
        return false;
    }
    match a.confirmed {
        None => a.confirmed = Some(t.proposer),
        Some(_) => {
            confirmed_more.insert(t);
        }
    }
    true
}

impl Checker for LinearizableWrites {
    fn name(&self) -> &'static str {
        "linearizable-writes"
    }

    fn interest(&self) -> Interest {
        Interest::of(&[
            HappeningKind::Server(zab::EventKind::Proposed),
            HappeningKind::Client,
            HappeningKind::LivenessDeadline,
        ])
        .union(crate::DELIVERIES)
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("delivery at an acknowledged zxid compared", self.deliveries),
            ("acknowledged write checked against real time", self.acks),
            (
                "read compared with an acknowledged write",
                self.reads_checked,
            ),
            (
                "longest delivered history checked at the end",
                self.at_deadline,
            ),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        match h {
            Happening::Server {
                event:
                    Event::Proposed {
                        txn,
                        request: Some(r),
                        ..
                    },
                ..
            } => {
                self.requests.insert(*txn, *r);
            }
            Happening::Client { id, event } => self.client(*id, event, view, out),
            Happening::LivenessDeadline { .. } => self.at_deadline(view, out),
            _ => {
                let Some(d) = added(h, view) else {
                    return;
                };
                // Every txn of a repeat is in `delivered` since its first delivery.
                if d.repeat {
                    return;
                }
                let id = d.server;
                for &t in &d.txns {
                    // A txn another server delivered first was checked then, and the ack
                    // check covers those delivered before their ack.
                    if !self.delivered.insert_new(t, id) {
                        continue;
                    }
                    let Some(a) = self.acked.get_mut(&t.zxid) else {
                        continue;
                    };
                    self.deliveries += 1;
                    if !settle(&mut self.requests, &mut self.confirmed_more, a, t)
                        && self.reported.insert(t.zxid)
                    {
                        out.push(lost_to(a, t.zxid, id, t, view.now_us()));
                    }
                }
            }
        }
    }
}

/// A server delivered another txn at the zxid an acknowledged write got.
fn lost_to(a: &Acked, zxid: Zxid, server: ServerId, t: TxnId, now_us: u64) -> Violation {
    Violation {
        invariant: "linearizable-writes",
        at_us: now_us,
        server: Some(server),
        message: format!(
            "{server} delivered {t} at zxid {zxid}, but that zxid was acknowledged to {} (request cxid {}) at {} ms: the acknowledged write is lost",
            a.what(),
            a.cxid,
            a.at_us / 1000
        ),
    }
}

impl LinearizableWrites {
    fn client(&mut self, id: ClientId, e: &ClientEvent, view: &dyn View, out: &mut Vec<Violation>) {
        let now = view.now_us();
        match e {
            ClientEvent::Submitted { op, request, .. } if request.is_write() => {
                let Some(write) = Write::of(request) else {
                    return;
                };
                self.in_flight.entry((id, *op)).or_insert(InFlight {
                    what: describe(id, *op, request),
                    write,
                    submitted_us: now,
                    must_follow: self.latest.clone(),
                });
            }
            ClientEvent::Submitted {
                op,
                request: request @ (ClientOp::GetData { .. } | ClientOp::Exists { .. }),
                ..
            } => {
                self.reads.insert((id, *op), describe(id, *op, request));
            }
            ClientEvent::Answered {
                op,
                zxid,
                result:
                    Ok(
                        Reply::Data { stat, .. }
                        | Reply::Exists {
                            stat: Some(stat), ..
                        },
                    ),
                ..
            } if self.reads.contains_key(&(id, *op)) => {
                let Some(read) = self.reads.remove(&(id, *op)) else {
                    return;
                };
                if let Some(at) = zxid {
                    self.read(read, *at, stat.mzxid, now, out);
                }
            }
            ClientEvent::Answered {
                op,
                cxid,
                zxid,
                result,
            } => {
                // A read that failed, or showed no znode, promises nothing about writes.
                self.reads.remove(&(id, *op));
                let Some(w) = self.in_flight.remove(&(id, *op)) else {
                    return;
                };
                let (Ok(_), Some(zxid)) = (result, zxid) else {
                    return;
                };
                let a = Acked {
                    client: id,
                    cxid: *cxid,
                    op: w.what.op,
                    write: w.write,
                    path: w.what.path,
                    at_us: now,
                    confirmed: None,
                };
                self.acknowledged(*zxid, a, w.submitted_us, w.must_follow, now, out);
            }
            ClientEvent::Expired { .. } | ClientEvent::Crashed => {
                let lo = (id, 0);
                let hi = (id, u64::MAX);
                let gone: Vec<_> = self.in_flight.range(lo..=hi).map(|(k, _)| *k).collect();
                for k in gone {
                    self.in_flight.remove(&k);
                }
                let gone: Vec<_> = self.reads.range(lo..=hi).map(|(k, _)| *k).collect();
                for k in gone {
                    self.reads.remove(&k);
                }
            }
            _ => {}
        }
    }

    fn acknowledged(
        &mut self,
        zxid: Zxid,
        mut a: Acked,
        submitted_us: u64,
        must_follow: Option<(Zxid, Acked)>,
        now: u64,
        out: &mut Vec<Violation>,
    ) {
        self.acks += 1;
        if let Some((bz, b)) = must_follow.filter(|(bz, _)| *bz >= zxid) {
            out.push(Violation {
                invariant: "linearizable-writes",
                at_us: now,
                server: None,
                message: format!(
                    "{} was acknowledged at zxid {}, but {} had been acknowledged at zxid {} (at {} ms) before it was submitted (at {} ms): real time puts it first, so its zxid must be lower",
                    a.what(),
                    zxid,
                    b.what(),
                    bz,
                    b.at_us / 1000,
                    submitted_us / 1000
                ),
            });
        }
        if let Some(other) = self.acked.get(&zxid) {
            out.push(Violation {
                invariant: "linearizable-writes",
                at_us: now,
                server: None,
                message: format!(
                    "{} and {} were both acknowledged at zxid {}: one of them is lost",
                    other.what(),
                    a.what(),
                    zxid
                ),
            });
            return;
        }
        let mut lost = None;
        let (lo, hi) = at_zxid(zxid);
        for (t, server) in self.delivered.between(lo, hi) {
            if !settle(&mut self.requests, &mut self.confirmed_more, &mut a, t) {
                lost = Some((server, t));
            }
        }
        if let Some((server, t)) = lost {
            if self.reported.insert(zxid) {
                out.push(lost_to(&a, zxid, server, t, now));
            }
        }
        if self.latest.as_ref().is_none_or(|(l, _)| *l < zxid) {
            self.latest = Some((zxid, a.clone()));
        }
        if let Some(path) = &a.path {
            let zs = self.acked_by_path.entry(path.clone()).or_default();
            let i = partition_point_from_end(zs, |z| *z < zxid);
            if zs.get(i) != Some(&zxid) {
                zs.insert(i, zxid);
            }
        }
        self.acked.insert(zxid, a);
    }

    /// A read answered at `at` showed the znode as last changed at `mzxid`: no acknowledged
    /// write to it up to `at` may be newer.
    fn read(&mut self, read: What, at: Zxid, mzxid: Zxid, now: u64, out: &mut Vec<Violation>) {
        let Some(path) = &read.path else { return };
        let Some(z) = self.acked_by_path.get(path).and_then(|zs| {
            let i = partition_point_from_end(zs, |z| *z <= at);
            i.checked_sub(1).map(|i| zs[i])
        }) else {
            return;
        };
        self.reads_checked += 1;
        if mzxid >= z {
            return;
        }
        let Some(w) = self.acked.get(&z) else { return };
        out.push(Violation {
            invariant: "linearizable-writes",
            at_us: now,
            server: None,
            message: format!(
                "{read} was answered at zxid {at} with {path} as last changed at {mzxid}, but {} had been acknowledged at zxid {z} (at {} ms), which that server must have applied by {at}: the acknowledged write is lost there",
                w.what(),
                w.at_us / 1000
            ),
        });
    }

    /// The longest delivered history of a running server must hold every acknowledged write
    /// it has passed.
    fn at_deadline(&mut self, view: &dyn View, out: &mut Vec<Violation>) {
        let Some((id, history)) = view
            .members()
            .iter()
            .filter_map(|id| {
                let s = view.server(*id)?;
                Some((*id, s.tree.applied.upto(s.delivered)))
            })
            .max_by_key(|(_, h)| h.len())
        else {
            return;
        };
        let Some(last) = history.iter().map(|t| t.zxid).max() else {
            return;
        };
        self.at_deadline += 1;
        // Every txn of the history was delivered, so it was settled against the write
        // acknowledged at its zxid, if there is one.
        let held: BTreeSet<Zxid> = history
            .iter()
            .filter(|t| {
                self.acked.get(&t.zxid).is_some_and(|a| {
                    a.confirmed == Some(t.proposer) || self.confirmed_more.contains(t)
                })
            })
            .map(|t| t.zxid)
            .collect();
        for (z, a) in self.acked.between(Zxid(0), last) {
            if held.contains(z) || !self.reported.insert(*z) {
                continue;
            }
            out.push(Violation {
                invariant: "linearizable-writes",
                at_us: view.now_us(),
                server: Some(id),
                message: format!(
                    "{} was acknowledged at zxid {} (at {} ms), but the longest delivered history ({id}'s, {} txns up to {last}) passed that zxid without it: the acknowledged write is lost",
                    a.what(),
                    z,
                    a.at_us / 1000,
                    history.len()
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_script::{create, exists, get_data, set_data};
    use crate::script::Script;
    use zab::{CreateMode, Reply, TxnOp};

    fn persistent(path: &str) -> ClientOp {
        create(path, CreateMode::Persistent)
    }

    #[test]
    fn quiet_when_acknowledged_writes_follow_real_time_and_survive() {
        crate::assert_fresh(&LinearizableWrites::default());
        let mut s = Script::serving(LinearizableWrites::default());
        s.connect(1, 2, 4000);
        s.connect(2, 3, 4000);
        s.client_write(1, persistent("/a"));
        let r = s.submit(2, set_data("/a", 7));
        // c1's second write is concurrent with c2's: either order is fine.
        let r1 = s.submit(1, set_data("/a", 8));
        s.commit_request(1, r1, &set_data("/a", 8));
        let t2 = s.commit_request(2, r, &set_data("/a", 7));
        s.answer(
            2,
            r,
            t2.zxid,
            Ok(Reply::SetData {
                stat: Default::default(),
            }),
        );
        // The read shows /a as the last write left it.
        s.client_read(1, get_data("/a", false), Ok(data_at(t2.zxid)));
        s.deadline(1_000_000, 20_000_000);
        assert!(s.take().is_empty());
        // Delivered before they were answered, the writes are compared at their answers.
        assert_eq!(
            s.c.paths(),
            [
                ("delivery at an acknowledged zxid compared", 0),
                ("acknowledged write checked against real time", 2),
                ("read compared with an acknowledged write", 1),
                ("longest delivered history checked at the end", 1),
            ]
        );
    }

    /// A getData answer showing a znode last changed at `mzxid`.
    fn data_at(mzxid: Zxid) -> Reply {
        Reply::Data {
            data: 0,
            stat: zab::Stat {
                mzxid,
                ..Default::default()
            },
        }
    }

    #[test]
    fn fires_when_a_read_misses_an_acknowledged_write_its_server_must_have_applied() {
        let mut s = Script::serving(LinearizableWrites::default());
        s.connect(1, 2, 4000);
        s.connect(2, 3, 4000);
        let created = s.client_write(1, persistent("/a"));
        let written = s.client_write(1, set_data("/a", 5));
        // Showing the latest write is fine; so is a read answered before the write's zxid
        // (whether a session may see that is session-order's business).
        s.client_read(2, get_data("/a", false), Ok(data_at(written.zxid)));
        let r = s.submit(2, get_data("/a", false));
        s.answer(2, r, created.zxid, Ok(data_at(created.zxid)));
        assert!(s.take().is_empty());
        // Answered at or past the acknowledged setData, but showing the create's version.
        let r = s.submit(2, exists("/a", false));
        s.answer(
            2,
            r,
            written.zxid,
            Ok(Reply::Exists {
                stat: Some(zab::Stat {
                    mzxid: created.zxid,
                    ..Default::default()
                }),
            }),
        );
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        let m = &out[0].message;
        assert!(
            m.starts_with(&format!(
                "c2's exists /a (operation 3) was answered at zxid {} with /a as last changed at {}, but c1's setData /a (operation 2) had been acknowledged at zxid {}",
                written.zxid, created.zxid, written.zxid
            )),
            "{m}"
        );
    }

    #[test]
    fn fires_when_a_later_write_gets_an_older_zxid() {
        let mut s = Script::serving(LinearizableWrites::default());
        s.connect(1, 2, 4000);
        s.connect(2, 3, 4000);
        let a = s.client_write(1, persistent("/a"));
        // c2 submits after c1's write was acknowledged, but is told an older zxid.
        let r = s.submit(2, persistent("/b"));
        let old = z(2, 1);
        assert!(old < a.zxid);
        s.answer(2, r, old, Ok(Reply::Created { path: "/b".into() }));
        let out = s.take();
        assert!(!out.is_empty(), "{out:?}");
        let m = &out[0].message;
        assert!(
            m.starts_with(&format!(
                "c2's create /b (operation 1) was acknowledged at zxid 2:1, but c1's create /a (operation 1) had been acknowledged at zxid {}",
                a.zxid
            )),
            "{m}"
        );
    }

    /// s1 commits c1's create on its own ACK (commit-before-quorum) and answers; s1 crashes
    /// before anyone logged it, and s2 and s3 carry on without it.
    fn lost_commit(same_epoch: bool) -> (Script<LinearizableWrites>, zab::Txn) {
        let mut s = Script::serving(LinearizableWrites::default());
        s.connect(1, 1, 4000);
        let r = s.submit(1, persistent("/a"));
        let op = s.txn_op(1, &persistent("/a"));
        let request = Some(RequestId {
            client: ClientId(1),
            cxid: r.cxid,
        });
        let t = s.propose_op(1, op, request, &[]);
        s.commit(1, &t, &[1], &[]);
        s.answer(1, r, t.zxid, Ok(Reply::Created { path: "/a".into() }));
        s.crash(1);
        s.learner_gives_up(2);
        s.learner_gives_up(3);
        // zk-335 lets s2 lead epoch 2 again, and hand out c1's zxid to another txn.
        s.lead(2, if same_epoch { 2 } else { 3 });
        s.follow(3, 2, if same_epoch { 2 } else { 3 });
        s.diff(3, 2, &[]);
        s.establish(2, &[2, 3]);
        s.up_to_date(3, 2);
        s.txn(TxnOp::Delete { path: "/x".into() }, None);
        (s, t)
    }

    #[test]
    fn each_acknowledged_kind_is_named_as_its_request_is() {
        let requests = [
            persistent("/a"),
            crate::client_script::delete("/a"),
            set_data("/a", 1),
            ClientOp::CloseSession,
            get_data("/a", false),
            exists("/a", true),
            ClientOp::GetChildren {
                path: "/a".into(),
                watch: false,
            },
            ClientOp::Sync { path: "/a".into() },
        ];
        for r in requests {
            assert_eq!(Write::of(&r).is_some(), r.is_write(), "{r:?}");
            if let Some(w) = Write::of(&r) {
                assert_eq!(w.name(), r.name());
            }
        }
    }

    fn z(e: u64, c: u64) -> Zxid {
        Zxid::new(e, c)
    }

    #[test]
    fn fires_when_a_server_delivers_another_txn_at_an_acknowledged_zxid() {
        let (mut s, t) = lost_commit(true);
        assert!(crate::path_count(&s.c, "delivery at an acknowledged zxid compared") > 0);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].server, Some(ServerId(2)));
        let m = &out[0].message;
        assert!(
            m.starts_with(&format!(
                "s2 delivered {}@s2 at zxid {}, but that zxid was acknowledged to c1's create /a (operation 1)",
                t.zxid, t.zxid
            )),
            "{m}"
        );
        s.deadline(1_000_000, 20_000_000);
        assert!(s.take().is_empty(), "reported once");
    }

    #[test]
    fn fires_at_the_end_when_the_history_skipped_an_acknowledged_write() {
        let (mut s, t) = lost_commit(false);
        assert!(s.take().is_empty());
        s.deadline(1_000_000, 20_000_000);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        let m = &out[0].message;
        assert!(
            m.starts_with(&format!(
                "c1's create /a (operation 1) was acknowledged at zxid {}",
                t.zxid
            )),
            "{m}"
        );
        assert!(m.contains("passed that zxid without it"), "{m}");
    }
}
