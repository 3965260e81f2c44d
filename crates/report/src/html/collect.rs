//! Folds trace lines, one at a time, into the report's model.
//!
//! `sim run --report` feeds the lines as the simulator writes them (through [`Capture`]) and
//! `sim report` feeds them from a file; both end in the same [`Run`], so both draw the same
//! report.

use super::line::{self, Answer, ClientEvent, DiskOp, Endpoint, Event, Line, RecipeEvent};
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
    paused_since: BTreeMap<u32, u64>,
    down: BTreeSet<u32>,
    /// The partitions in force: each one's groups by endpoint.
    cuts: Vec<BTreeMap<Endpoint, usize>>,
    open_partitions: Vec<usize>,
    /// Unanswered client operations: (client, op) to (submission, write).
    submitted: BTreeMap<(u32, u64), (u64, bool)>,
    /// Each client's open connection, role spans and pause, by index into its lane.
    connected: BTreeMap<u32, usize>,
    holding: BTreeMap<(u32, Role), usize>,
    client_paused_since: BTreeMap<u32, u64>,
    /// The newest token the protected resource has accepted: (token, client, when).
    newest_token: Option<(u64, u32, u64)>,
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
            paused_since: BTreeMap::new(),
            down: BTreeSet::new(),
            cuts: Vec::new(),
            open_partitions: Vec::new(),
            submitted: BTreeMap::new(),
            connected: BTreeMap::new(),
            holding: BTreeMap::new(),
            client_paused_since: BTreeMap::new(),
            newest_token: None,
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
        for (cid, _) in std::mem::take(&mut self.submitted).into_keys() {
            self.client_lane(cid).unanswered += 1;
        }
        for (cid, i) in std::mem::take(&mut self.connected) {
            self.client_lane(cid).connections[i].end_us = end;
        }
        for ((cid, _), i) in std::mem::take(&mut self.holding) {
            self.client_lane(cid).roles[i].end_us = end;
        }
        for (cid, since) in std::mem::take(&mut self.client_paused_since) {
            self.client_lane(cid).pauses.push((since, end));
        }
        self.run
    }

    fn client_lane(&mut self, id: u32) -> &mut ClientLane {
        self.run.clients.entry(id).or_default()
    }

    /// Ends the client's connection, if it has one open.
    fn disconnect(&mut self, id: u32, t: u64) {
        if let Some(i) = self.connected.remove(&id) {
            self.client_lane(id).connections[i].end_us = t;
        }
    }

    fn take_role(&mut self, id: u32, t: u64, role: Role, token: Option<u64>, path: String) {
        self.drop_role(id, t, role, "taken again");
        let lane = self.client_lane(id);
        lane.roles.push(RoleSpan {
            role,
            start_us: t,
            end_us: t,
            token,
            path,
            accepted: 0,
            refused: 0,
            ended: None,
        });
        let i = lane.roles.len() - 1;
        self.holding.insert((id, role), i);
    }

    fn drop_role(&mut self, id: u32, t: u64, role: Role, why: &'static str) {
        if let Some(i) = self.holding.remove(&(id, role)) {
            let span = &mut self.client_lane(id).roles[i];
            span.end_us = t;
            span.ended = Some(why);
        }
    }

    /// A client's report: its lane, its operations, and a note for the sequence diagrams.
    /// Requests, answers and watches are routine notes; session and recipe events are not,
    /// so that a client-side violation keeps them in its diagram.
    fn client(&mut self, t: u64, id: u32, event: ClientEvent) {
        let at = Some(Endpoint::Client(id));
        match event {
            ClientEvent::Connecting { server } => {
                self.client_lane(id).connecting += 1;
                self.routine_note(t, at, format!("connecting to s{server}"));
            }
            ClientEvent::Connected {
                session,
                server,
                timeout_ms,
            } => {
                self.disconnect(id, t);
                let lane = self.client_lane(id);
                lane.connections.push(Connection {
                    start_us: t,
                    end_us: t,
                    server,
                    session,
                });
                lane.marks
                    .push((t, SessionMark::Connected { server, session }));
                if !lane.sessions.contains(&session) {
                    lane.sessions.push(session);
                }
                let i = lane.connections.len() - 1;
                self.connected.insert(id, i);
                let text = format!(
                    "session {} with s{server} ({timeout_ms} ms)",
                    session_id(session)
                );
                self.note(t, at, text, false);
            }
            ClientEvent::Disconnected { server } => {
                self.disconnect(id, t);
                self.client_lane(id)
                    .marks
                    .push((t, SessionMark::Disconnected { server }));
                self.note(t, at, format!("disconnected from s{server}"), false);
            }
            ClientEvent::Expired { session } => {
                self.disconnect(id, t);
                self.client_lane(id)
                    .marks
                    .push((t, SessionMark::Expired { session }));
                let text = format!("session {} expired", session_id(session));
                self.note(t, at, text, true);
            }
            ClientEvent::Submitted {
                op,
                server,
                request,
            } => {
                self.submitted.insert((id, op), (t, request.write));
                self.client_lane(id).submitted += 1;
                let path = request.path.map(|p| format!(" {p}")).unwrap_or_default();
                let text = format!("#{op} {}{path} to s{server}", request.name);
                self.routine_note(t, at, text);
            }
            ClientEvent::Answered { op, zxid, result } => {
                let submitted = self.submitted.remove(&(id, op));
                let at_zxid = zxid.map(|z| format!(" at {}", line::zxid(z)));
                let text = match result {
                    Answer::Ok(reply) => {
                        self.client_lane(id).answered_ok += 1;
                        if let Some((since, write)) = submitted {
                            self.run.client_ops.push(ClientOp {
                                submitted_us: since,
                                answered_us: t,
                                write,
                            });
                        }
                        format!("#{op} {reply}{}", at_zxid.unwrap_or_default())
                    }
                    Answer::Err(code) => {
                        *self.run.client_failures.entry(code.clone()).or_default() += 1;
                        let text = format!("#{op} {code}{}", at_zxid.unwrap_or_default());
                        *self.client_lane(id).failed.entry(code).or_default() += 1;
                        text
                    }
                };
                self.routine_note(t, at, text);
            }
            ClientEvent::Watch { kind, path, server } => {
                self.client_lane(id).watches += 1;
                self.routine_note(t, at, format!("watch {kind} {path} from s{server}"));
            }
            ClientEvent::Recipe(r) => self.recipe(t, id, r),
            ClientEvent::ResourceUsed { token, accepted } => {
                let held = self.holding.get(&(id, Role::Leader)).copied();
                let lane = self.client_lane(id);
                lane.uses.push(ResourceUse {
                    t_us: t,
                    token,
                    accepted,
                });
                if let Some(span) = held.map(|i| &mut lane.roles[i]) {
                    if accepted {
                        span.accepted += 1;
                    } else {
                        span.refused += 1;
                    }
                }
                let newest = self.newest_token;
                if !accepted || newest.is_some_and(|(n, _, _)| token < n) {
                    self.run.stale_uses_total += 1;
                    if self.run.stale_uses.len() < MAX_STALE_USES {
                        self.run.stale_uses.push(StaleUse {
                            t_us: t,
                            client: id,
                            token,
                            accepted,
                            newest,
                        });
                    }
                }
                if accepted && newest.is_none_or(|(n, _, _)| token > n) {
                    self.newest_token = Some((token, id, t));
                }
                let (verdict, alarm) = if accepted {
                    ("accepted", false)
                } else {
                    ("REFUSED", true)
                };
                let text = format!("resource {verdict} token {}", line::zxid(token));
                self.note(t, at, text, alarm);
            }
            ClientEvent::Crashed => {
                self.disconnect(id, t);
                self.drop_role(id, t, Role::Leader, "crashed");
                self.drop_role(id, t, Role::LockHolder, "crashed");
                if let Some(since) = self.client_paused_since.remove(&id) {
                    self.client_lane(id).pauses.push((since, t));
                }
                self.client_lane(id).marks.push((t, SessionMark::Crashed));
                self.pairing.crash(Endpoint::Client(id));
                self.note(t, at, "CRASH".into(), true);
            }
            ClientEvent::Paused => {
                self.client_paused_since.insert(id, t);
                self.client_lane(id).marks.push((t, SessionMark::Paused));
                self.note(t, at, "paused".into(), true);
            }
            ClientEvent::Resumed => {
                if let Some(since) = self.client_paused_since.remove(&id) {
                    self.client_lane(id).pauses.push((since, t));
                }
                self.client_lane(id).marks.push((t, SessionMark::Resumed));
                self.note(t, at, "resumed".into(), false);
            }
            ClientEvent::Other(name) => {
                self.client_lane(id);
                self.routine_note(t, at, name);
            }
        }
    }

    fn recipe(&mut self, t: u64, id: u32, r: RecipeEvent) {
        let at = Some(Endpoint::Client(id));
        let mut count = |kind: &'static str| {
            *self
                .run
                .clients
                .entry(id)
                .or_default()
                .recipe
                .entry(kind)
                .or_default() += 1;
        };
        let text = match r {
            RecipeEvent::Leading { path, token } => {
                let text = format!("LEADS with token {}", line::zxid(token));
                self.take_role(id, t, Role::Leader, Some(token), path);
                text
            }
            RecipeEvent::NotLeading => {
                self.drop_role(id, t, Role::Leader, "stepped down");
                "no longer leads".to_string()
            }
            RecipeEvent::LockAcquired { path } => {
                self.take_role(id, t, Role::LockHolder, None, path);
                "HOLDS the lock".to_string()
            }
            RecipeEvent::LockReleased => {
                self.drop_role(id, t, Role::LockHolder, "released");
                "released the lock".to_string()
            }
            RecipeEvent::IdAssigned { id: n } => {
                count("ids assigned");
                format!("got id {n}")
            }
            RecipeEvent::Produced { item } => {
                count("items produced");
                format!("produced {item}")
            }
            RecipeEvent::Consumed { item } => {
                count("items consumed");
                format!("consumed {item}")
            }
            RecipeEvent::ConfigSeen { version } => {
                count("config versions seen");
                format!("acts on config version {version}")
            }
            // The resource's verdict follows at once and is what the report shows.
            RecipeEvent::UseResource { .. } => return,
            RecipeEvent::Other(name) => name,
        };
        self.note(t, at, text, false);
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
            routine: false,
        });
    }

    /// A note a full diagram can do without (see [`SeqItem::routine`]).
    fn routine_note(&mut self, t_us: u64, at: Option<Endpoint>, text: String) {
        self.recent.push(SeqItem::Note {
            t_us,
            at,
            text,
            alarm: false,
            routine: true,
        });
    }

    fn cut_off(&self, from: Endpoint, to: Endpoint) -> bool {
        self.cuts.iter().any(
            |groups| matches!((groups.get(&from), groups.get(&to)), (Some(a), Some(b)) if a != b),
        )
    }

    /// Folds in one line already read; a source of lines other than a trace file (a real
    /// ensemble's observations) hands its lines over this way.
    pub fn fold(&mut self, l: Line) {
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
                        let text = format!("logged {}", line::zxid(t.zxid));
                        self.routine_note(t_us, Some(Endpoint::Server(id)), text);
                        return;
                    }
                    DiskOp::Truncate(z) => {
                        self.lane(id).last_zxid = Some(z);
                        format!("log truncated to {}", line::zxid(z))
                    }
                    DiskOp::Snapshot(_) => "snapshot written".to_string(),
                    DiskOp::DropSnapshotsAfter(z) => {
                        format!("snapshots after {} deleted", line::zxid(z))
                    }
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
                if let Some(Endpoint::Client(id)) = Endpoint::parse(&client) {
                    self.client(t_us, id, event);
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
            Line::Election {
                epoch,
                t_us: _,
                leader,
                started_us,
                established_us,
            } => {
                if let Some(leader) = Endpoint::parse(&leader).and_then(Endpoint::server) {
                    self.run.established.push(Establishment {
                        epoch,
                        leader,
                        started_us,
                        at_us: established_us,
                    });
                }
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
                self.routine_note(t, at, format!("delivered {count} txns"));
            }
            Event::TreeReset { kept } => {
                self.lane(id);
                self.run.delivered.entry(id).or_default().push((t, kept));
            }
            Event::LeaderShutdown { reason } => {
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
            let mut clients = BTreeMap::new();
            for (g, group) in p.iter().enumerate() {
                for e in group.iter().filter_map(|n| Endpoint::parse(n)) {
                    by_endpoint.insert(e, g);
                    match e {
                        Endpoint::Server(s) => servers.insert(s, g),
                        Endpoint::Client(c) => clients.insert(c, g),
                    };
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
                        clients,
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

/// A session id as ZooKeeper prints it.
pub fn session_id(id: u64) -> String {
    format!("0x{id:x}")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn client(c: &mut Collector, t_us: u64, client: u32, event: &str) {
        c.line(&format!(
            r#"{{"kind":"client","t_us":{t_us},"client":"c{client}","event":{event}}}"#
        ));
    }

    fn submit(c: &mut Collector, t_us: u64, op: u64, request: &str) {
        let e =
            format!(r#"{{"Submitted":{{"op":{op},"cxid":{op},"server":1,"request":{request}}}}}"#);
        client(c, t_us, 1, &e);
    }

    fn answer(c: &mut Collector, t_us: u64, op: u64, zxid: &str, result: &str) {
        let e =
            format!(r#"{{"Answered":{{"op":{op},"cxid":{op},"zxid":{zxid},"result":{result}}}}}"#);
        client(c, t_us, 1, &e);
    }

    fn use_resource(c: &mut Collector, t_us: u64, client_id: u32, token: u64, accepted: bool) {
        let e = format!(r#"{{"ResourceUsed":{{"token":{token},"accepted":{accepted}}}}}"#);
        client(c, t_us, client_id, &e);
    }

    /// A hand-made history of three clients: operations that succeed, fail and never end; a
    /// leader paused through its successor's term that acts once more when it wakes; a
    /// refused use; a crash.
    fn history() -> Run {
        let mut c = Collector::new(1_000_000);
        c.line(r#"{"kind":"run","scenario":"x","servers":["s1","s2","s3"]}"#);
        client(
            &mut c,
            10,
            1,
            r#"{"Connected":{"session":256,"server":1,"timeout_ms":2000}}"#,
        );
        submit(
            &mut c,
            20,
            1,
            r#"{"Create":{"path":"/a","data":0,"mode":"Ephemeral"}}"#,
        );
        answer(
            &mut c,
            50,
            1,
            "4294967297",
            r#"{"Ok":{"Created":{"path":"/a"}}}"#,
        );
        submit(&mut c, 60, 2, r#"{"GetData":{"path":"/a","watch":true}}"#);
        answer(&mut c, 90, 2, "null", r#"{"Err":"ConnectionLoss"}"#);
        client(&mut c, 90, 1, r#"{"Disconnected":{"server":1}}"#);
        submit(
            &mut c,
            100,
            3,
            r#"{"SetData":{"path":"/a","data":1,"version":-1}}"#,
        );
        client(
            &mut c,
            100,
            1,
            r#"{"Recipe":{"Leading":{"path":"/e/n_1","token":5}}}"#,
        );
        use_resource(&mut c, 110, 1, 5, true);
        client(&mut c, 150, 1, r#""Paused""#);
        client(
            &mut c,
            200,
            2,
            r#"{"Recipe":{"Leading":{"path":"/e/n_2","token":9}}}"#,
        );
        use_resource(&mut c, 210, 2, 9, true);
        client(&mut c, 300, 1, r#""Resumed""#);
        use_resource(&mut c, 300, 1, 5, true);
        c.line(r#"{"kind":"violation","t_us":300,"invariant":"recipe-safety","server":null,"message":"stale"}"#);
        client(&mut c, 300, 1, r#"{"Recipe":"NotLeading"}"#);
        use_resource(&mut c, 320, 3, 3, false);
        client(&mut c, 400, 2, r#""Crashed""#);
        c.line(r#"{"kind":"outcome","sim_ms":1.0}"#);
        c.finish()
    }

    #[test]
    fn only_answers_without_error_make_latency() {
        let run = history();
        assert_eq!(run.skipped, 0);
        assert_eq!(
            run.client_ops,
            vec![ClientOp {
                submitted_us: 20,
                answered_us: 50,
                write: true
            }]
        );
        assert_eq!(
            run.client_failures,
            BTreeMap::from([("CONNECTIONLOSS".to_string(), 1)])
        );
        assert_eq!(run.unanswered, 1, "the setData never answered");
        let c1 = &run.clients[&1];
        assert_eq!((c1.submitted, c1.answered_ok, c1.unanswered), (3, 1, 1));
        assert_eq!(c1.failed["CONNECTIONLOSS"], 1);
    }

    #[test]
    fn client_lanes_hold_sessions_pauses_roles_and_resource_uses() {
        let run = history();
        let c1 = &run.clients[&1];
        assert_eq!(
            c1.connections,
            vec![Connection {
                start_us: 10,
                end_us: 90,
                server: 1,
                session: 256
            }]
        );
        assert_eq!(c1.sessions, vec![256]);
        assert_eq!(c1.pauses, vec![(150, 300)]);
        let led = &c1.roles[0];
        assert_eq!(
            (led.role, led.start_us, led.end_us, led.token),
            (Role::Leader, 100, 300, Some(5))
        );
        assert_eq!((led.accepted, led.refused), (2, 0));
        assert_eq!(led.ended, Some("stepped down"));
        let c2 = &run.clients[&2].roles[0];
        assert_eq!((c2.end_us, c2.ended), (400, Some("crashed")));
        assert!(run.clients[&2].marks.contains(&(400, SessionMark::Crashed)));

        // The deposed leader's use after its successor's, and the refused one.
        assert_eq!(
            run.stale_uses,
            vec![
                StaleUse {
                    t_us: 300,
                    client: 1,
                    token: 5,
                    accepted: true,
                    newest: Some((9, 2, 210))
                },
                StaleUse {
                    t_us: 320,
                    client: 3,
                    token: 3,
                    accepted: false,
                    newest: Some((9, 2, 210))
                }
            ]
        );
    }

    #[test]
    fn a_client_violation_keeps_the_recipe_steps_before_it() {
        let run = history();
        let v = &run.violations[0];
        let notes: Vec<&str> = v
            .items
            .iter()
            .filter_map(|i| match i {
                SeqItem::Note {
                    text,
                    routine: false,
                    ..
                } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        for step in [
            "LEADS with token 0:5",
            "paused",
            "LEADS with token 0:9",
            "resource accepted token 0:9",
            "resumed",
            "resource accepted token 0:5",
        ] {
            assert!(notes.contains(&step), "{step} in {notes:?}");
        }
        assert!(v.items.iter().any(|i| matches!(i,
            SeqItem::Note { text, routine: true, .. } if text == "#2 CONNECTIONLOSS")));
    }
}
