//! Driving processes, servers and clients alike: what reaches a process is held while it is
//! paused and dropped once it has crashed; otherwise it becomes an input to its machine, whose
//! outputs are carried out and whose next deadline is queued as a wake-up. Crash, restart,
//! pause and resume are written here once for both kinds; only creating a machine and what a
//! kind reports differ.

use super::{Ev, Sim};
use crate::network::{conn_key, ConnKey, Sent, Wire};
use crate::rng::between;
use crate::wakes::Place;
use crate::world::Process;
use check::Happening;
use scenario::OnKind;
use zab::client::{ClientInput, ClientOutput, ClientOutputs};
use zab::client_api::ClientEvent;
use zab::{Channel, Endpoint, Event, Input, Message, Output, Server, ServerId, ServerState};

/// What reaches a process, whichever kind it is.
pub(crate) enum Incoming {
    Receive {
        from: Endpoint,
        channel: Channel,
        msg: Message,
    },
    /// Its next deadline has come.
    Timeout,
    Disconnected {
        peer: Endpoint,
        channel: Channel,
    },
    /// A durable write of a server completed.
    DiskDone(u64),
}

impl Sim {
    // ---- the process table ----

    pub(crate) fn process(&self, who: Endpoint) -> Option<&Process> {
        match who {
            Endpoint::Server(id) => self.world.slot(id).map(|s| &s.process),
            Endpoint::Client(c) => self.client_slot(c).map(|s| &s.process),
        }
    }

    pub(crate) fn process_mut(&mut self, who: Endpoint) -> Option<&mut Process> {
        match who {
            Endpoint::Server(id) => self.world.slot_mut(id).map(|s| &mut s.process),
            Endpoint::Client(c) => self.client_slot_mut(c).map(|s| &mut s.process),
        }
    }

    /// Whether the process runs (has not crashed; a server that refused to start runs).
    pub(crate) fn is_up(&self, who: Endpoint) -> bool {
        match who {
            Endpoint::Server(id) => self.world.slot(id).is_some_and(|s| s.is_up()),
            Endpoint::Client(c) => self.client_slot(c).is_some_and(|s| s.client.is_some()),
        }
    }

    /// The incarnation of a running process.
    pub(crate) fn incarnation(&self, who: Endpoint) -> Option<u64> {
        self.is_up(who)
            .then(|| self.process(who).map(|p| p.incarnation))
            .flatten()
    }

    fn is_paused(&self, who: Endpoint) -> bool {
        self.process(who).is_some_and(|p| p.paused)
    }

    /// The running incarnation `inc` of `who`, if it is not paused; a paused one keeps `ev`
    /// to handle on resume.
    fn ready_or_hold(&mut self, who: Endpoint, inc: u64, ev: Ev) -> bool {
        if self.incarnation(who) != Some(inc) {
            return false;
        }
        let p = self.process_mut(who).expect("running");
        if p.paused {
            p.held.push(ev);
            return false;
        }
        true
    }

    // ---- inputs ----

    /// A message arrives at `to` (its connection is intact).
    pub(super) fn deliver(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        channel: Channel,
        (conn, gen): (u32, u64),
        msg: Message,
    ) {
        let Some(inc) = self.incarnation(to) else {
            return;
        };
        if self.is_paused(to) {
            let ev = Ev::Deliver {
                from,
                to,
                channel,
                conn,
                gen,
                msg,
            };
            self.process_mut(to).expect("running").held.push(ev);
            return;
        }
        self.check_triggers(OnKind::Receive, msg.name(), from, to);
        if self.incarnation(to) != Some(inc) || self.is_paused(to) {
            return; // the trigger crashed or paused the receiver first
        }
        // Only now does `to` read from this socket: a paused leader's handler of the
        // learner's earlier socket still writes to that one until it takes the message.
        self.world.net.received(conn, to);
        self.note(Happening::Deliver {
            from,
            to,
            msg: &msg,
        });
        self.feed(to, Incoming::Receive { from, channel, msg });
    }

    pub(super) fn wake(&mut self, who: Endpoint, inc: u64, place: Place) {
        if !self.ready_or_hold(who, inc, Ev::Wake { who, inc, place }) {
            return;
        }
        self.process_mut(who).expect("running").wakes.ran(place);
        match self.next_deadline(who) {
            Some(d) if d <= self.world.now => self.feed(who, Incoming::Timeout),
            // The deadline moved later since this wake-up was owed: queue the one for it.
            Some(d) => self.queue_wake(who, d),
            None => {}
        }
    }

    pub(super) fn disconnected(
        &mut self,
        who: Endpoint,
        inc: u64,
        peer: Endpoint,
        channel: Channel,
        gen: u64,
    ) {
        if self.world.net.gen(&conn_key(who, peer, channel)) != gen {
            return;
        }
        let ev = Ev::Notify {
            who,
            inc,
            peer,
            channel,
            gen,
        };
        if self.ready_or_hold(who, inc, ev) {
            self.feed(who, Incoming::Disconnected { peer, channel });
        }
    }

    pub(super) fn disk_done(&mut self, id: ServerId, inc: u64, write: u64) {
        let Some(slot) = self.world.slot_mut(id) else {
            return;
        };
        if slot.process.incarnation != inc {
            return;
        }
        let Some(op) = slot.disk.complete(write) else {
            return;
        };
        let paused = slot.process.paused;
        self.note(Happening::DiskDurable { id, op: &op });
        if paused {
            let slot = self.world.slot_mut(id).expect("slot");
            slot.process.held.push(Ev::HeldDiskDone { id, inc, write });
        } else {
            self.feed(Endpoint::Server(id), Incoming::DiskDone(write));
        }
    }

    /// Steps the machine of `who` with one input, carries out its outputs, and queues a
    /// wake-up for its next deadline.
    pub(super) fn feed(&mut self, who: Endpoint, input: Incoming) {
        let now = self.world.now;
        match who {
            Endpoint::Server(id) => {
                let input = match input {
                    Incoming::Receive { from, channel, msg } => {
                        Input::Receive { from, channel, msg }
                    }
                    Incoming::Timeout => Input::Timeout,
                    Incoming::Disconnected { peer, channel } => {
                        Input::Disconnected { peer, channel }
                    }
                    Incoming::DiskDone(id) => Input::DiskDone { id },
                };
                let slot = self.world.slot_mut(id).expect("member");
                let Some(server) = slot.server.as_mut() else {
                    return;
                };
                server.step(now, input, &mut self.out);
                self.server_outputs(id);
            }
            Endpoint::Client(c) => {
                let input = match input {
                    Incoming::Receive {
                        from: Endpoint::Server(from),
                        msg,
                        ..
                    } => ClientInput::Receive { from, msg },
                    Incoming::Timeout => ClientInput::Timeout,
                    Incoming::Disconnected {
                        peer: Endpoint::Server(server),
                        ..
                    } => ClientInput::Disconnected { server },
                    _ => return,
                };
                let mut out = self.take_client_outputs();
                let Some(client) = self.client_slot_mut(c).and_then(|s| s.client.as_mut()) else {
                    return self.put_client_outputs(out);
                };
                client.step(now, input, &mut out);
                self.client_outputs(c, out);
            }
        }
        self.rearm(who);
    }

    /// When the machine of `who` next needs a timeout.
    fn next_deadline(&self, who: Endpoint) -> Option<u64> {
        match who {
            Endpoint::Server(id) => self
                .world
                .slot(id)
                .and_then(|s| s.server.as_ref())
                .and_then(Server::next_deadline),
            Endpoint::Client(c) => self
                .client_slot(c)
                .and_then(|s| s.client.as_ref())
                .and_then(|c| c.next_deadline()),
        }
    }

    /// The machine may have a new deadline: it is owed a wake-up for it, unless it is owed one
    /// already, and the wake-up that would run its timeout is queued (see [`crate::wakes`]).
    pub(super) fn rearm(&mut self, who: Endpoint) {
        let Some(at) = self.next_deadline(who) else {
            return;
        };
        let here = (self.world.now, self.queue.popped_seq());
        let Some(p) = self.process(who) else {
            return;
        };
        let paused = p.paused;
        if !p.wakes.owes(at, here) {
            let place = (at.max(here.0), self.queue.reserve());
            let p = self.process_mut(who).expect("running");
            p.wakes.owe(at, place, here);
        }
        if paused {
            // Paused in the middle of its own step (a fault triggered by what it sent): as
            // at the pause, every owed wake-up is queued, to be held if it comes meanwhile.
            self.queue_every_wake(who);
        } else {
            self.queue_wake(who, at);
        }
    }

    /// Queues the wake-up that would run the timeout of the machine's `deadline`, unless it or
    /// an earlier one is queued.
    fn queue_wake(&mut self, who: Endpoint, deadline: u64) {
        let here = (self.world.now, self.queue.popped_seq());
        let Some(p) = self.process_mut(who) else {
            return;
        };
        let inc = p.incarnation;
        if let Some(place) = p.wakes.queue_for(deadline, here) {
            self.queue
                .push_reserved(place.0, place.1, Ev::Wake { who, inc, place });
        }
    }

    /// Queues every owed wake-up still to come: a paused process holds each one that comes
    /// before it resumes, and runs the timeout at it then if its deadline has come, whichever
    /// deadline it was owed for.
    fn queue_every_wake(&mut self, who: Endpoint) {
        let here = (self.world.now, self.queue.popped_seq());
        let Some(p) = self.process_mut(who) else {
            return;
        };
        let inc = p.incarnation;
        for place in p.wakes.queue_all(here) {
            self.queue
                .push_reserved(place.0, place.1, Ev::Wake { who, inc, place });
        }
    }

    // ---- outputs ----

    /// Carries out what a server asked for. A fault triggered by one of the outputs may kill
    /// the server mid-step: its remaining outputs are then lost with it.
    fn server_outputs(&mut self, id: ServerId) {
        let me = Endpoint::Server(id);
        let mut items = std::mem::take(&mut self.out.items);
        let inc = self.incarnation(me);
        for output in items.drain(..) {
            if self.incarnation(me) != inc {
                break;
            }
            match output {
                Output::Send { to, channel, msg } => {
                    if !self.emit(me, to, channel, msg) {
                        break;
                    }
                }
                Output::Disk { id: write, op } => {
                    let latency = between(&mut self.rng_disk, self.fsync_us);
                    self.note(Happening::DiskIssued { id, op: &op });
                    let now = self.world.now;
                    let slot = self.world.slot_mut(id).expect("member");
                    let done = slot.disk.issue(now, write, op, latency);
                    let inc = slot.process.incarnation;
                    self.queue.push(done, Ev::DiskDone { id, inc, write });
                }
                Output::Close {
                    peer,
                    channel: Channel::Client,
                } => {
                    let now = self.world.now;
                    let key = (me, peer, Channel::Client);
                    let (at, gen) = self.world.net.close_after_flush(now, key);
                    let ev = Ev::CloseConn {
                        from: me,
                        to: peer,
                        channel: Channel::Client,
                        gen,
                    };
                    self.queue.push(at, ev);
                }
                Output::Close { peer, channel } => self.close(me, peer, channel),
                Output::Fired(bug) => self.records.fired(self.world.now, id, bug),
                Output::Event(event) => {
                    self.records.server_event(&self.world, id, &event);
                    self.note(Happening::Server { id, event: &event });
                    if let (Event::Established { .. }, Some(t)) = (&event, &mut self.trace) {
                        if let Some(e) = self.records.elections.last() {
                            t.election(e);
                        }
                    }
                    if let Event::State { state, .. } = event {
                        self.check_triggers(OnKind::State, state.name(), me, me);
                    }
                }
            }
        }
        self.out.items = items;
    }

    /// Carries out what a client asked for; a fault triggered by one of its sends may crash
    /// it mid-way, and the rest is lost with it.
    pub(super) fn client_outputs(&mut self, id: zab::ClientId, mut out: ClientOutputs) {
        let me = Endpoint::Client(id);
        let inc = self.incarnation(me);
        for output in out.items.drain(..) {
            if self.incarnation(me) != inc {
                break;
            }
            match output {
                ClientOutput::Send { to, msg } => {
                    if !self.emit(me, Endpoint::Server(to), Channel::Client, msg) {
                        break;
                    }
                }
                ClientOutput::Close { to } => self.close(me, Endpoint::Server(to), Channel::Client),
                ClientOutput::Event(event) => self.client_event(id, event),
            }
        }
        self.put_client_outputs(out);
    }

    /// A process sends a message: triggers on the send fire first (and may kill the sender,
    /// which then sends nothing more: `false`), then the network takes it.
    fn emit(&mut self, from: Endpoint, to: Endpoint, channel: Channel, msg: Message) -> bool {
        let inc = self.incarnation(from);
        self.check_triggers(OnKind::Send, msg.name(), from, to);
        if self.incarnation(from) != inc {
            return false;
        }
        self.note(Happening::Send {
            from,
            to,
            msg: &msg,
        });
        let now = self.world.now;
        let to_up = self.world.endpoint_up(to);
        match self.world.net.send(now, (from, to, channel), msg, to_up) {
            Sent::Wire(wire) => self.put_on_wire(from, to, channel, wire),
            Sent::VoteQueued { at, gen } => {
                self.queue.push(at, Ev::SendQueuedVote { from, to, gen })
            }
            Sent::VoteReplaced => {}
            Sent::Broken {
                tell_sender,
                tell_receiver,
            } => {
                if tell_sender {
                    self.notify(from, to, channel);
                }
                if tell_receiver {
                    self.notify(to, from, channel);
                }
            }
        }
        true
    }

    pub(super) fn put_on_wire(&mut self, from: Endpoint, to: Endpoint, channel: Channel, w: Wire) {
        let ev = Ev::Deliver {
            from,
            to,
            channel,
            conn: w.conn,
            gen: w.gen,
            msg: w.msg,
        };
        self.queue.push(w.at, ev);
    }

    /// Breaks a connection at once; the peer learns of it.
    fn close(&mut self, me: Endpoint, peer: Endpoint, channel: Channel) {
        if self.world.net.break_conn(conn_key(me, peer, channel)) {
            self.notify(peer, me, channel);
        }
    }

    /// Tells `who` that its connection to `peer` broke, after a network delay.
    pub(crate) fn notify(&mut self, who: Endpoint, peer: Endpoint, channel: Channel) {
        let Some(inc) = self.incarnation(who) else {
            return;
        };
        let gen = self.world.net.gen(&conn_key(who, peer, channel));
        let at = self.world.now + self.world.net.delay();
        let ev = Ev::Notify {
            who,
            inc,
            peer,
            channel,
            gen,
        };
        self.queue.push(at, ev);
    }

    /// Breaks every connection in `keys`; the ends of quorum and client connections learn of
    /// it (election connections break silently). With `gone`, only the peers of that crashed
    /// endpoint are told.
    pub(crate) fn break_conns(&mut self, keys: Vec<ConnKey>, gone: Option<Endpoint>) {
        for key in keys {
            if !self.world.net.break_conn(key) || key.2 == Channel::Election {
                continue;
            }
            match gone {
                Some(me) => {
                    let other = if key.0 == me { key.1 } else { key.0 };
                    self.notify(other, me, key.2);
                }
                None => {
                    self.notify(key.0, key.1, key.2);
                    self.notify(key.1, key.0, key.2);
                }
            }
        }
    }

    // ---- lifecycle ----

    pub(super) fn boot(&mut self, id: ServerId) {
        let now = self.world.now;
        let cfg = self.world.cfg.clone();
        let slot = self.world.slot_mut(id).expect("member");
        let server = Server::boot(cfg, id, &slot.disk.image, now, &mut self.out);
        slot.server = Some(server);
        self.server_outputs(id);
        self.rearm(Endpoint::Server(id));
    }

    /// Kills a process: its connections break and its peers notice. A server loses what its
    /// disk had not made durable; a client's session lives on until the leader expires it.
    pub(crate) fn crash(&mut self, who: Endpoint, why: &str) -> bool {
        if !self.is_up(who) {
            return false;
        }
        match who {
            Endpoint::Server(id) => {
                if self
                    .world
                    .running(id)
                    .is_some_and(|s| s.state() == ServerState::Leading)
                {
                    self.records.last_crashed_leader = Some(id);
                }
                let slot = self.world.slot_mut(id).expect("member");
                slot.server = None;
                slot.disk.crash();
                self.records.lost_leader(self.world.now, id);
            }
            Endpoint::Client(c) => {
                self.client_slot_mut(c).expect("client").client = None;
                self.world.clients_down.insert(c);
            }
        }
        self.process_mut(who).expect("process").kill();
        let keys = self.world.net.conns_of(who);
        self.break_conns(keys, Some(who));
        self.log_fault(format!("{why} {who}"));
        match who {
            Endpoint::Server(id) => self.note(Happening::Crash { id }),
            Endpoint::Client(c) => self.client_note(c, &ClientEvent::Crashed),
        }
        true
    }

    /// Starts a crashed process again: a server boots from its disk, a client starts a new
    /// process with a new session.
    pub(crate) fn restart(&mut self, who: Endpoint) {
        if self.process(who).is_none() || self.is_up(who) {
            return;
        }
        self.log_fault(format!("restart {who}"));
        match who {
            Endpoint::Server(id) => {
                self.note(Happening::Restart { id });
                self.boot(id);
            }
            Endpoint::Client(c) => self.start_client(c),
        }
    }

    /// Stops a process for a while, as a long GC pause would: it takes no steps, and what
    /// reaches it waits until it resumes.
    pub(crate) fn pause(&mut self, who: Endpoint, duration_us: u64, why: &str) -> bool {
        if !self.is_up(who) || self.is_paused(who) {
            return false;
        }
        self.process_mut(who).expect("process").paused = true;
        self.queue_every_wake(who);
        self.log_fault(format!("{why} {who} for {} ms", duration_us / 1000));
        match who {
            Endpoint::Server(id) => self.note(Happening::Pause { id }),
            Endpoint::Client(c) => self.client_note(c, &ClientEvent::Paused),
        }
        self.queue
            .push(self.world.now + duration_us, Ev::Resume(who));
        true
    }

    pub(crate) fn resume(&mut self, who: Endpoint) {
        let Some(p) = self.process_mut(who).filter(|p| p.paused) else {
            return;
        };
        p.paused = false;
        let held = std::mem::take(&mut p.held);
        self.log_fault(format!("resume {who}"));
        match who {
            Endpoint::Server(id) => self.note(Happening::Resume { id }),
            Endpoint::Client(c) => self.client_note(c, &ClientEvent::Resumed),
        }
        // What piled up is handled now, in order, before anything that arrives at this same
        // instant: a message queued behind the held ones must not overtake them.
        for ev in held {
            self.events += 1;
            self.handle(ev);
        }
    }
}
