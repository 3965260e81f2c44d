//! Folds trace lines, one at a time, into the report's model.
//!
//! `sim run --report` feeds the lines as the simulator writes them (through [`Capture`]) and
//! `sim report` feeds them from a file; both end in the same [`Run`], so both draw the same
//! report.

use super::line::{self, ClientEvent, DiskOp, Endpoint, Event, Line};
use super::model::*;
use super::pairing::Pairing;
use super::recent::Recent;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::rc::Rc;

/// Rows of a sequence diagram at most, whatever the window holds.
pub const MAX_ROWS: usize = 120;

/// Builds a [`Run`] from trace lines.
pub struct Collector {
    run: Run,
    pairing: Pairing,
    recent: Recent,
    /// Established leaders, and since when there has been none (as the simulator counts
    /// time-to-establish).
    leaders: BTreeSet<u32>,
    no_leader_since: Option<u64>,
    paused_since: BTreeMap<u32, u64>,
    down: BTreeSet<u32>,
    /// The partitions in force: each one's groups by endpoint.
    cuts: Vec<BTreeMap<Endpoint, usize>>,
    open_partitions: Vec<usize>,
    /// Unanswered client operations: (client, op) to (first submission, write).
    submitted: BTreeMap<(u32, u64), (u64, bool)>,
    /// The last event-triggered fault: when, and what matched (a crash it causes follows at
    /// the same instant).
    trigger: Option<(u64, String)>,
}

impl Collector {
    /// `window_us`: how much of the run before each violation its sequence diagram covers.
    pub fn new(window_us: u64) -> Collector {
        Collector {
            run: Run {
                window_us,
                ..Run::default()
            },
            pairing: Pairing::default(),
            recent: Recent::new(window_us, MAX_ROWS),
            leaders: BTreeSet::new(),
            no_leader_since: Some(0),
            paused_since: BTreeMap::new(),
            down: BTreeSet::new(),
            cuts: Vec::new(),
            open_partitions: Vec::new(),
            submitted: BTreeMap::new(),
            trigger: None,
        }
    }

    /// Reads one trace line (without its newline). Lines the report does not know are
    /// counted and skipped.
    pub fn line(&mut self, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        self.run.lines += 1;
        match Line::parse(text) {
            Some(l) => self.fold(l),
            None => self.run.skipped += 1,
        }
    }

    /// Closes whatever is still open at the end of the run.
    pub fn finish(mut self) -> Run {
        let end = self
            .run
            .outcome
            .as_ref()
            .map(|o| (o.sim_ms * 1000.0).round() as u64)
            .unwrap_or(0)
            .max(self.run.end_us);
        self.run.end_us = end;
        for lane in self.run.lanes.values_mut() {
            if let Some(s) = lane.segments.last_mut() {
                s.end_us = end;
                s.last_zxid = lane.last_zxid;
            }
        }
        for (id, since) in std::mem::take(&mut self.paused_since) {
            self.lane(id).pauses.push((since, end));
        }
        for i in std::mem::take(&mut self.open_partitions) {
            self.run.partitions[i].end_us = end;
        }
        self.run.unanswered = self.submitted.len() as u64;
        self.run
    }

    /// A server's lane; a server first seen in the middle of the trace starts LOOKING at 0.
    fn lane(&mut self, id: u32) -> &mut Lane {
        self.run.lanes.entry(id).or_insert_with(|| Lane {
            segments: vec![Segment {
                start_us: 0,
                end_us: 0,
                status: Status::Looking,
                phase: Phase::Election,
                epoch: 0,
                last_zxid: None,
                cause: None,
            }],
            ..Lane::default()
        })
    }

    /// Starts a new span of a lane, unless nothing visible changes.
    fn set_status(&mut self, id: u32, t: u64, status: Status, phase: Phase, epoch: u64) {
        let lane = self.lane(id);
        let last_zxid = lane.last_zxid;
        if let Some(cur) = lane.segments.last_mut() {
            if cur.status == status && cur.phase == phase && cur.epoch == epoch {
                return;
            }
            cur.end_us = t;
            cur.last_zxid = last_zxid;
            if cur.start_us == t {
                // Replaced at the same instant: keep only the newer state.
                lane.segments.pop();
            }
        }
        lane.segments.push(Segment {
            start_us: t,
            end_us: t,
            status,
            phase,
            epoch,
            last_zxid: None,
            cause: None,
        });
    }

    /// Says why the span that just started is what it is.
    fn set_cause(&mut self, id: u32, cause: Option<String>) {
        if let Some(seg) = self.lane(id).segments.last_mut() {
            seg.cause = cause;
        }
    }

    fn epoch_of(&mut self, id: u32) -> u64 {
        self.lane(id).segments.last().map(|s| s.epoch).unwrap_or(0)
    }

    fn note(&mut self, t_us: u64, at: Option<Endpoint>, text: String, alarm: bool) {
        self.recent.push(SeqItem::Note {
            t_us,
            at,
            text,
            alarm,
        });
    }

    fn lost_leader(&mut self, id: u32, t: u64) {
        if self.leaders.remove(&id) && self.leaders.is_empty() {
            self.no_leader_since = Some(t);
        }
    }

    fn cut_off(&self, from: Endpoint, to: Endpoint) -> bool {
        self.cuts.iter().any(
            |groups| matches!((groups.get(&from), groups.get(&to)), (Some(a), Some(b)) if a != b),
        )
    }

    fn fold(&mut self, l: Line) {
        if let Some(t) = l.t_us() {
            self.run.end_us = self.run.end_us.max(t);
        }
        match l {
            Line::Run(info) => {
                for (names, observer) in [(&info.servers, false), (&info.observers, true)] {
                    for id in names.iter().filter_map(|n| Endpoint::parse(n)?.server()) {
                        self.lane(id).observer = observer;
                    }
                }
                self.run.info = Some(info);
            }
            Line::Outcome(o) => self.run.outcome = Some(o),
            Line::Event {
                t_us,
                server,
                event,
            } => {
                if let Some(id) = Endpoint::parse(&server).and_then(Endpoint::server) {
                    self.event(t_us, id, event);
                }
            }
            Line::Send {
                t_us,
                from,
                to,
                msg,
                zxid,
            } => {
                let (Some(f), Some(t)) = (Endpoint::parse(&from), Endpoint::parse(&to)) else {
                    return;
                };
                let receiver_down = t.server().is_some_and(|s| self.down.contains(&s));
                let dropped = receiver_down || self.cut_off(f, t);
                let id = self
                    .pairing
                    .send(t_us, f, t, &msg, zxid.as_deref(), dropped);
                self.recent.push(SeqItem::Send {
                    t_us,
                    msg: SeqMessage {
                        id,
                        from: f,
                        to: t,
                        name: msg,
                        zxid,
                    },
                    fate: Fate::InFlight,
                });
            }
            Line::Deliver {
                t_us,
                from,
                to,
                msg,
                zxid,
            } => {
                let (Some(f), Some(t)) = (Endpoint::parse(&from), Endpoint::parse(&to)) else {
                    return;
                };
                let paired = self.pairing.deliver(f, t, &msg, zxid.as_deref());
                self.recent.push(SeqItem::Deliver {
                    t_us,
                    msg: SeqMessage {
                        id: paired.map(|p| p.0).unwrap_or(0),
                        from: f,
                        to: t,
                        name: msg,
                        zxid,
                    },
                    sent_us: paired.map(|p| p.1),
                });
            }
            Line::DiskIssued { .. } => {}
            Line::DiskDurable { t_us, server, op } => {
                let Some(id) = Endpoint::parse(&server).and_then(Endpoint::server) else {
                    return;
                };
                let text = match op {
                    DiskOp::Append(t) => {
                        self.lane(id).last_zxid = Some(t.zxid);
                        format!("logged {}", line::zxid(t.zxid))
                    }
                    DiskOp::Truncate(z) => {
                        self.lane(id).last_zxid = Some(z);
                        format!("log truncated to {}", line::zxid(z))
                    }
                    DiskOp::Snapshot(_) => "snapshot written".to_string(),
                    DiskOp::AcceptedEpoch(e) => format!("acceptedEpoch = {e} on disk"),
                    DiskOp::CurrentEpoch(e) => format!("currentEpoch = {e} on disk"),
                    DiskOp::UpdatingEpoch(on) => {
                        format!(
                            "updatingEpoch marker {}",
                            if on { "set" } else { "cleared" }
                        )
                    }
                };
                self.note(t_us, Some(Endpoint::Server(id)), text, false);
            }
            Line::Crash { t_us, server } => {
                let Some(id) = Endpoint::parse(&server).and_then(Endpoint::server) else {
                    return;
                };
                let epoch = self.epoch_of(id);
                self.set_status(id, t_us, Status::Down, Phase::Election, epoch);
                let cause = self
                    .trigger
                    .as_ref()
                    .filter(|(t, _)| *t == t_us)
                    .map(|(_, what)| format!("crashed as {what}"));
                self.set_cause(id, cause);
                self.lane(id).crashes.push(t_us);
                if let Some(since) = self.paused_since.remove(&id) {
                    self.lane(id).pauses.push((since, t_us));
                }
                self.down.insert(id);
                self.lost_leader(id, t_us);
                self.pairing.crash(Endpoint::Server(id));
                self.note(t_us, Some(Endpoint::Server(id)), "CRASH".into(), true);
            }
            Line::Restart { t_us, server } => {
                let Some(id) = Endpoint::parse(&server).and_then(Endpoint::server) else {
                    return;
                };
                let epoch = self.epoch_of(id);
                self.set_status(id, t_us, Status::Looking, Phase::Election, epoch);
                self.lane(id).restarts.push(t_us);
                self.down.remove(&id);
                self.note(t_us, Some(Endpoint::Server(id)), "restart".into(), false);
            }
            Line::Pause { t_us, server } => {
                if let Some(id) = Endpoint::parse(&server).and_then(Endpoint::server) {
                    self.lane(id);
                    self.paused_since.insert(id, t_us);
                    self.note(t_us, Some(Endpoint::Server(id)), "paused".into(), true);
                }
            }
            Line::Resume { t_us, server } => {
                if let Some(id) = Endpoint::parse(&server).and_then(Endpoint::server) {
                    if let Some(since) = self.paused_since.remove(&id) {
                        self.lane(id).pauses.push((since, t_us));
                    }
                    self.note(t_us, Some(Endpoint::Server(id)), "resumed".into(), false);
                }
            }
            Line::Network { t_us, partitions } => self.network(t_us, partitions),
            Line::Client {
                t_us,
                client,
                event,
            } => {
                let Some(c) = Endpoint::parse(&client) else {
                    return;
                };
                let Endpoint::Client(cid) = c else { return };
                match event {
                    ClientEvent::Submitted { op, server, write } => {
                        self.submitted.entry((cid, op)).or_insert((t_us, write));
                        let what = if write { "write" } else { "read" };
                        self.note(t_us, Some(c), format!("{what} #{op} to s{server}"), false);
                    }
                    ClientEvent::Answered { op, server, zxid } => {
                        if let Some((since, write)) = self.submitted.remove(&(cid, op)) {
                            self.run.client_ops.push(ClientOp {
                                submitted_us: since,
                                answered_us: t_us,
                                write,
                            });
                        }
                        let z = line::zxid(zxid);
                        self.note(
                            t_us,
                            Some(c),
                            format!("#{op} answered by s{server} at {z}"),
                            false,
                        );
                    }
                    ClientEvent::ConnectionLoss { server } => {
                        self.note(t_us, Some(c), format!("lost s{server}"), false);
                    }
                }
            }
            Line::InitiallyCommitted { t_us, upto } => {
                self.note(
                    t_us,
                    None,
                    format!("committed up to {upto} initially"),
                    false,
                );
            }
            Line::LivenessDeadline { t_us, .. } => {
                self.note(t_us, None, "liveness deadline".into(), false);
            }
            Line::Fault { t_us, fault } => {
                if let Some((_, what)) = fault.split_once(" matched: ") {
                    self.trigger = Some((t_us, what.to_string()));
                }
                self.note(t_us, None, format!("fault: {fault}"), true);
                self.run.faults.push((t_us, fault));
            }
            Line::Violation {
                t_us,
                invariant,
                server,
                message,
            } => {
                let server = server
                    .as_deref()
                    .and_then(Endpoint::parse)
                    .and_then(Endpoint::server);
                let (mut items, omitted) = self.recent.snapshot(t_us);
                for item in &mut items {
                    if let SeqItem::Send { msg, fate, .. } = item {
                        *fate = if self.pairing.in_flight(msg.id, msg.from, msg.to, &msg.name) {
                            Fate::InFlight
                        } else {
                            Fate::Lost
                        };
                    }
                }
                let delivered: BTreeSet<u64> = items
                    .iter()
                    .filter_map(|i| match i {
                        SeqItem::Deliver {
                            msg,
                            sent_us: Some(_),
                            ..
                        } => Some(msg.id),
                        _ => None,
                    })
                    .collect();
                for item in &mut items {
                    if let SeqItem::Send { msg, fate, .. } = item {
                        if delivered.contains(&msg.id) {
                            *fate = Fate::Delivered;
                        }
                    }
                }
                self.run.violations.push(ViolationWindow {
                    t_us,
                    invariant: invariant.clone(),
                    server,
                    message,
                    items,
                    omitted,
                });
                self.note(
                    t_us,
                    server.map(Endpoint::Server),
                    format!("violates {invariant}"),
                    true,
                );
            }
        }
    }

    fn event(&mut self, t: u64, id: u32, event: Event) {
        let at = Some(Endpoint::Server(id));
        match event {
            Event::State {
                state,
                phase,
                epoch,
            } => {
                let status = Status::from_trace(&state);
                let phase = Phase::from_trace(&phase);
                self.set_status(id, t, status, phase, epoch);
                let text = format!("{} ({}, epoch {epoch})", status.name(), phase.name());
                self.note(t, at, text, false);
            }
            Event::Vote {
                leader,
                zxid,
                peer_epoch,
                election_epoch,
            } => {
                let lane = self.lane(id);
                if leader == id {
                    // A vote for itself carries its own last logged zxid and currentEpoch,
                    // which a server that has just started has said nowhere else.
                    if lane.last_zxid.is_none() {
                        lane.last_zxid = Some(zxid);
                    }
                    if let Some(seg) = lane
                        .segments
                        .last_mut()
                        .filter(|s| s.status == Status::Looking)
                    {
                        seg.epoch = peer_epoch;
                    }
                }
                lane.votes.push(VoteMark {
                    t_us: t,
                    leader,
                    zxid,
                    election_epoch,
                });
                let text = format!("votes s{leader} ({})", line::zxid(zxid));
                self.note(t, at, text, false);
            }
            Event::Elected { leader, .. } => {
                self.note(t, at, format!("elected s{leader}"), false);
            }
            Event::EpochDecided { epoch } => {
                self.note(t, at, format!("new epoch {epoch} decided"), false);
            }
            Event::Established { epoch, .. } => {
                let started_us = self.no_leader_since.take().unwrap_or(t);
                self.leaders.insert(id);
                self.run.established.push(Establishment {
                    epoch,
                    leader: id,
                    started_us,
                    at_us: t,
                });
                self.note(t, at, format!("ESTABLISHED epoch {epoch}"), false);
            }
            Event::SyncDecision { learner, mode, .. } => {
                self.note(
                    t,
                    at,
                    format!("{} to s{learner}", mode.to_uppercase()),
                    false,
                );
            }
            Event::Synced { leader, epoch } => {
                self.note(
                    t,
                    at,
                    format!("synced with s{leader} in epoch {epoch}"),
                    false,
                );
            }
            Event::Proposed { txn } => {
                self.note(t, at, format!("propose {}", line::zxid(txn.zxid)), false);
            }
            Event::Committed { txn, .. } => {
                self.lane(id).commits.push(t);
                self.note(t, at, format!("commit {}", line::zxid(txn.zxid)), false);
            }
            Event::Delivered { count } => {
                self.lane(id);
                self.run.delivered.entry(id).or_default().push((t, count));
                self.note(t, at, format!("delivered {count} txns"), false);
            }
            Event::TreeReset { kept } => {
                self.lane(id);
                self.run.delivered.entry(id).or_default().push((t, kept));
            }
            Event::LeaderShutdown { reason } => {
                self.lost_leader(id, t);
                self.lane(id)
                    .notes
                    .push((t, format!("leader shut down: {reason}")));
                self.note(t, at, format!("leader shuts down: {reason}"), true);
            }
            Event::LearnerShutdown { reason } => {
                self.lane(id)
                    .notes
                    .push((t, format!("learner shut down: {reason}")));
                self.note(t, at, format!("learner shuts down: {reason}"), false);
            }
            Event::ProtocolError { reason } => {
                self.lane(id)
                    .notes
                    .push((t, format!("protocol error: {reason}")));
                self.note(t, at, format!("protocol error: {reason}"), true);
            }
            Event::StartupFailed { reason } => {
                let epoch = self.epoch_of(id);
                self.set_status(id, t, Status::Down, Phase::Election, epoch);
                self.set_cause(id, Some(format!("failed to start: {reason}")));
                self.down.insert(id);
                self.lane(id)
                    .notes
                    .push((t, format!("failed to start: {reason}")));
                self.note(t, at, format!("failed to start: {reason}"), true);
            }
        }
    }

    fn network(&mut self, t: u64, partitions: Vec<Vec<Vec<String>>>) {
        let was_open = std::mem::take(&mut self.open_partitions);
        self.cuts.clear();
        let mut texts = Vec::new();
        for p in &partitions {
            let mut by_endpoint = BTreeMap::new();
            let mut servers = BTreeMap::new();
            for (g, group) in p.iter().enumerate() {
                for e in group.iter().filter_map(|n| Endpoint::parse(n)) {
                    by_endpoint.insert(e, g);
                    if let Some(s) = e.server() {
                        servers.insert(s, g);
                    }
                }
            }
            let text = p
                .iter()
                .map(|g| format!("[{}]", g.join(" ")))
                .collect::<Vec<_>>()
                .join(" | ");
            texts.push(text.clone());
            self.cuts.push(by_endpoint);
            // A partition that still holds goes on; only new ones start here.
            match was_open.iter().find(|i| {
                self.run.partitions[**i].text == text && !self.open_partitions.contains(i)
            }) {
                Some(i) => self.open_partitions.push(*i),
                None => {
                    self.open_partitions.push(self.run.partitions.len());
                    self.run.partitions.push(PartitionSpan {
                        start_us: t,
                        end_us: t,
                        groups: servers,
                        text,
                    });
                }
            }
        }
        for i in was_open {
            if !self.open_partitions.contains(&i) {
                self.run.partitions[i].end_us = t;
            }
        }
        let cuts = self.cuts.clone();
        self.pairing.cut(|from, to| {
            cuts.iter()
                .any(|g| matches!((g.get(&from), g.get(&to)), (Some(a), Some(b)) if a != b))
        });
        let text = if texts.is_empty() {
            "network healed".to_string()
        } else {
            format!("partitioned: {}", texts.join("; "))
        };
        self.note(t, None, text, true);
    }
}

/// A trace sink for the simulator that folds each line into a [`Collector`] as it is
/// written. Cloning shares the collector, so the caller keeps a handle while the simulator
/// owns the sink.
#[derive(Clone)]
pub struct Capture {
    inner: Rc<RefCell<(Collector, Vec<u8>)>>,
}

impl Capture {
    pub fn new(collector: Collector) -> Capture {
        Capture {
            inner: Rc::new(RefCell::new((collector, Vec::new()))),
        }
    }

    /// Feeds one line that did not come from the simulator (the `run` header, the outcome).
    pub fn line(&self, text: &str) {
        self.inner.borrow_mut().0.line(text);
    }

    /// The model, once the simulator is done writing.
    pub fn finish(self) -> Run {
        let (mut c, rest) = std::mem::replace(
            &mut *self.inner.borrow_mut(),
            (Collector::new(0), Vec::new()),
        );
        if let Ok(text) = std::str::from_utf8(&rest) {
            c.line(text);
        }
        c.finish()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut guard = self.inner.borrow_mut();
        let (collector, partial) = &mut *guard;
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            partial.extend_from_slice(&rest[..nl]);
            match std::str::from_utf8(partial) {
                Ok(text) => collector.line(text),
                Err(_) => collector.run.skipped += 1,
            }
            partial.clear();
            rest = &rest[nl + 1..];
        }
        partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
