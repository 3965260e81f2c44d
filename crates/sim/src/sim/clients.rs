//! Client processes: the sans-IO ZooKeeper client with its application program (a recipe or
//! the kv workload), driven like servers are, plus the protected resource the recipes act
//! on.
//!
//! A client is an endpoint like a server: its messages cross the network on the client
//! channel, it can be crashed (its session is then left to expire on the servers; a restart
//! starts a new process with a new session), paused (inputs held until it resumes, as a long
//! GC pause would) and cut off by partitions that name it.

use super::{Ev, Sim};
use crate::rng::between;
use check::Happening;
use rand::seq::SliceRandom;
use rand::Rng;
use scenario::{Clients, OnKind};
use zab::client::{
    Client, ClientConfig, ClientInput, ClientOutput, ClientOutputs, ProgramSettings, Workload,
};
use zab::client_api::{ClientEvent, RecipeEvent};
use zab::{Channel, ClientId, Endpoint, Message, Zxid};

/// One client process slot.
pub(crate) struct ClientSlot {
    id: ClientId,
    /// `None` while crashed.
    pub(crate) proc: Option<Client>,
    pub(crate) paused: bool,
    /// Inputs that arrived while paused, handled in order on resume.
    held: Vec<Ev>,
    /// Bumped at every crash: events of an earlier process are dropped.
    pub(crate) incarnation: u64,
    /// The deadline a wake-up is queued for (see `world::Slot::wake_at`).
    wake_at: Option<u64>,
    /// This client's share of the scenario's operations.
    ops: u32,
    pub(crate) record: crate::outcome::ClientRecord,
    /// Sessions seen, to count distinct ones.
    last_session: Option<zab::SessionId>,
}

/// The resource outside ZooKeeper that recipe leaders act on. With fencing it refuses a
/// token older than the newest it accepted, as a storage service checking a fencing token
/// would.
#[derive(Default)]
struct Resource {
    fencing: bool,
    newest: Option<Zxid>,
}

/// The clients of one run.
pub(crate) struct ClientsState {
    settings: Clients,
    pub(crate) slots: Vec<ClientSlot>,
    resource: Resource,
    out: ClientOutputs,
}

impl ClientsState {
    pub(crate) fn new(settings: &Clients) -> ClientsState {
        let count = settings.count;
        let slots = (1..=count)
            .map(|i| ClientSlot {
                id: ClientId(i),
                proc: None,
                paused: false,
                held: Vec::new(),
                incarnation: 0,
                wake_at: None,
                // The scenario's operations are shared out; the first clients take the rest.
                ops: settings.ops / count + u32::from(i <= settings.ops % count),
                record: crate::outcome::ClientRecord::new(ClientId(i)),
                last_session: None,
            })
            .collect();
        ClientsState {
            settings: settings.clone(),
            slots,
            resource: Resource {
                fencing: settings.fencing,
                newest: None,
            },
            out: ClientOutputs::default(),
        }
    }
}

fn workload(w: scenario::Workload) -> Workload {
    match w {
        scenario::Workload::Kv => Workload::Kv,
        scenario::Workload::Election => Workload::Election,
        scenario::Workload::Lock => Workload::Lock,
        scenario::Workload::Queue => Workload::Queue,
        scenario::Workload::Ids => Workload::Ids,
        scenario::Workload::Config => Workload::Config,
    }
}

impl Sim {
    /// Every client process starts after one think time, so that a scenario can let the
    /// ensemble settle (or not) before sessions and writes arrive.
    pub(super) fn start_clients(&mut self) {
        let Some(cs) = &self.clients else { return };
        let think = (cs.settings.think_ms.0 * 1000, cs.settings.think_ms.1 * 1000);
        let ids: Vec<ClientId> = cs.slots.iter().map(|s| s.id).collect();
        for id in ids {
            let at = self.world.now + between(&mut self.rng_workload, think);
            self.queue.push(at, Ev::ClientStart(id));
        }
    }

    /// Starts a new process in slot `i`: it shuffles the connect string once (as
    /// StaticHostProvider does) and draws its own seed, both from the workload stream.
    pub(super) fn start_client(&mut self, i: usize) {
        let mut servers = self.world.members.clone();
        servers.shuffle(&mut self.rng_workload);
        let seed = self.rng_workload.gen();
        let now = self.world.now;
        let Some(cs) = &mut self.clients else { return };
        let settings = &cs.settings;
        let slot = &mut cs.slots[i];
        let cfg = ClientConfig {
            id: slot.id,
            servers,
            session_timeout_ms: u32::try_from(settings.session_timeout_ms).unwrap_or(u32::MAX),
            seed,
            program: ProgramSettings {
                workload: workload(settings.workload),
                ops: slot.ops,
                write_ratio: settings.write_ratio,
                think_ms: settings.think_ms,
                index: slot.id.0,
                count: settings.count,
            },
        };
        let mut out = std::mem::take(&mut cs.out);
        slot.proc = Some(Client::new(cfg, now, &mut out));
        self.world.clients_down.remove(&slot.id);
        let id = slot.id;
        self.process_client_outputs(id, out);
        self.client_rearm(id);
    }

    /// Queues a wake-up for the client's next deadline, unless one is queued for it already.
    fn client_rearm(&mut self, id: ClientId) {
        let now = self.world.now;
        let Some(slot) = self.client_slot_mut(id) else {
            return;
        };
        let next = slot.proc.as_ref().and_then(Client::next_deadline);
        if next == slot.wake_at {
            return;
        }
        slot.wake_at = next;
        if let Some(at) = next {
            let inc = slot.incarnation;
            self.queue.push(at.max(now), Ev::ClientWake { id, inc, at });
        }
    }

    fn client_slot(&self, id: ClientId) -> Option<&ClientSlot> {
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.clients.as_ref()?.slots.get(i)
    }

    fn client_slot_mut(&mut self, id: ClientId) -> Option<&mut ClientSlot> {
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.clients.as_mut()?.slots.get_mut(i)
    }

    /// The incarnation of a running client process.
    pub(super) fn client_incarnation(&self, id: ClientId) -> Option<u64> {
        self.client_slot(id)
            .filter(|s| s.proc.is_some())
            .map(|s| s.incarnation)
    }

    fn client_alive(&self, id: ClientId, inc: u64) -> bool {
        self.client_slot(id)
            .is_some_and(|s| s.incarnation == inc && s.proc.is_some())
    }

    /// Feeds one input to a client, or holds it while the client is paused.
    fn client_step(&mut self, id: ClientId, input: ClientInput, held: Ev) {
        let Some(slot) = self.client_slot_mut(id) else {
            return;
        };
        if slot.paused {
            slot.held.push(held);
            return;
        }
        self.client_run(id, input);
    }

    /// Feeds one input to a client that is known not to be paused.
    fn client_run(&mut self, id: ClientId, input: ClientInput) {
        let now = self.world.now;
        let Some(cs) = &mut self.clients else { return };
        let mut out = std::mem::take(&mut cs.out);
        let Some(proc) = self.client_slot_mut(id).and_then(|s| s.proc.as_mut()) else {
            self.clients.as_mut().expect("clients").out = out;
            return;
        };
        proc.step(now, input, &mut out);
        self.process_client_outputs(id, out);
        self.client_rearm(id);
    }

    /// Carries out what a client asked for; a fault triggered by one of its sends may crash
    /// it mid-way, and the rest is lost with it.
    fn process_client_outputs(&mut self, id: ClientId, mut out: ClientOutputs) {
        let inc = self.client_slot(id).map_or(0, |s| s.incarnation);
        let me = Endpoint::Client(id);
        for output in out.items.drain(..) {
            if !self.client_alive(id, inc) {
                break;
            }
            match output {
                ClientOutput::Send { to, msg } => {
                    let to = Endpoint::Server(to);
                    self.check_triggers(OnKind::Send, msg.name(), me, to);
                    if !self.client_alive(id, inc) {
                        break;
                    }
                    self.note(Happening::Send {
                        from: me,
                        to,
                        msg: &msg,
                    });
                    self.send(me, to, Channel::Client, msg);
                }
                ClientOutput::Close { to } => {
                    let key = crate::network::conn_key(me, Endpoint::Server(to), Channel::Client);
                    if self.world.net.break_conn(key) {
                        self.notify(Endpoint::Server(to), me, Channel::Client);
                    }
                }
                ClientOutput::Event(event) => {
                    self.client_note(id, &event);
                    if let ClientEvent::Recipe(RecipeEvent::UseResource { token }) = event {
                        self.use_resource(id, token);
                    }
                }
            }
        }
        if let Some(cs) = &mut self.clients {
            cs.out = out;
        }
    }

    /// Shows a client event to the checkers and the trace, and keeps the run's per-client
    /// counts and who believes it leads the election recipe or holds the lock (the
    /// `recipe-leader` selector).
    fn client_note(&mut self, id: ClientId, event: &ClientEvent) {
        self.note(Happening::Client { id, event });
        if let Some(slot) = self.client_slot_mut(id) {
            slot.record.count(event);
            if let ClientEvent::Connected { session, .. } = event {
                if slot.last_session != Some(*session) {
                    slot.last_session = Some(*session);
                    slot.record.sessions += 1;
                }
            }
        }
        let w = &mut self.world;
        match event {
            ClientEvent::Recipe(RecipeEvent::Leading { .. } | RecipeEvent::LockAcquired { .. }) => {
                w.recipe_leader = Some(id)
            }
            ClientEvent::Recipe(RecipeEvent::NotLeading | RecipeEvent::LockReleased)
            | ClientEvent::Expired { .. }
            | ClientEvent::Crashed
                if w.recipe_leader == Some(id) =>
            {
                w.recipe_leader = None
            }
            _ => {}
        }
    }

    fn use_resource(&mut self, id: ClientId, token: Zxid) {
        let Some(cs) = &mut self.clients else { return };
        let r = &mut cs.resource;
        let accepted = !r.fencing || r.newest.is_none_or(|n| token >= n);
        if accepted {
            r.newest = Some(r.newest.map_or(token, |n| n.max(token)));
        }
        let event = ClientEvent::ResourceUsed { token, accepted };
        self.client_note(id, &event);
    }

    pub(super) fn client_wake(&mut self, id: ClientId, inc: u64, at: u64) {
        let Some(slot) = self.client_slot_mut(id) else {
            return;
        };
        if slot.incarnation != inc || slot.wake_at != Some(at) || slot.proc.is_none() {
            return;
        }
        if slot.paused {
            slot.held.push(Ev::ClientWake { id, inc, at });
            return;
        }
        slot.wake_at = None;
        self.client_run(id, ClientInput::Timeout);
    }

    /// A message reached a client.
    pub(super) fn client_receive(
        &mut self,
        id: ClientId,
        from: Endpoint,
        (conn, gen): (u32, u64),
        msg: Message,
    ) {
        let Endpoint::Server(server) = from else {
            return;
        };
        let Some(slot) = self.client_slot_mut(id) else {
            return;
        };
        if slot.proc.is_none() {
            return;
        }
        if slot.paused {
            slot.held.push(Ev::Deliver {
                from,
                to: Endpoint::Client(id),
                channel: Channel::Client,
                conn,
                gen,
                msg,
            });
            return;
        }
        let inc = slot.incarnation;
        let me = Endpoint::Client(id);
        self.check_triggers(OnKind::Receive, msg.name(), from, me);
        if !self.client_alive(id, inc) || self.client_slot(id).is_some_and(|s| s.paused) {
            return;
        }
        self.note(Happening::Deliver {
            from,
            to: me,
            msg: &msg,
        });
        // A pause was dealt with above, so the message needs no copy to hold.
        self.client_run(id, ClientInput::Receive { from: server, msg });
    }

    /// The client learns that its connection to `peer` broke.
    pub(super) fn client_disconnected(&mut self, id: ClientId, inc: u64, peer: Endpoint) {
        let Endpoint::Server(server) = peer else {
            return;
        };
        if !self.client_alive(id, inc) {
            return;
        }
        let held = Ev::ClientNotify { id, inc, peer };
        self.client_step(id, ClientInput::Disconnected { server }, held);
    }

    // ---- client faults ----

    /// Crashes a client process: its connections break and the servers notice; its session
    /// lives on until the leader expires it.
    pub(super) fn crash_client(&mut self, id: ClientId, why: &str) -> bool {
        let Some(slot) = self.client_slot_mut(id) else {
            return false;
        };
        if slot.proc.is_none() {
            return false;
        }
        slot.proc = None;
        slot.paused = false;
        slot.held.clear();
        slot.wake_at = None;
        slot.incarnation += 1;
        self.world.clients_down.insert(id);
        let me = Endpoint::Client(id);
        let keys = self.world.net.conns_of(me);
        for key in keys {
            if self.world.net.break_conn(key) {
                let other = if key.0 == me { key.1 } else { key.0 };
                self.notify(other, me, key.2);
            }
        }
        self.log_fault(format!("{why} {id}"));
        self.client_note(id, &ClientEvent::Crashed);
        true
    }

    pub(super) fn restart_client(&mut self, id: ClientId) {
        let Some(slot) = self.client_slot(id) else {
            return;
        };
        if slot.proc.is_some() {
            return;
        }
        self.log_fault(format!("restart {id}"));
        self.start_client(usize::try_from(id.0 - 1).expect("client index"));
    }

    pub(super) fn pause_client(&mut self, id: ClientId, duration_us: u64, why: &str) -> bool {
        let Some(slot) = self.client_slot_mut(id) else {
            return false;
        };
        if slot.proc.is_none() || slot.paused {
            return false;
        }
        slot.paused = true;
        self.log_fault(format!("{why} {id} for {} ms", duration_us / 1000));
        self.client_note(id, &ClientEvent::Paused);
        self.queue
            .push(self.world.now + duration_us, Ev::ClientResume(id));
        true
    }

    pub(super) fn resume_client(&mut self, id: ClientId) {
        let Some(slot) = self.client_slot_mut(id) else {
            return;
        };
        if !slot.paused {
            return;
        }
        slot.paused = false;
        let held = std::mem::take(&mut slot.held);
        self.log_fault(format!("resume {id}"));
        self.client_note(id, &ClientEvent::Resumed);
        for ev in held {
            self.events += 1;
            self.handle(ev);
        }
    }

    /// Resolves a client selector when its fault fires: `up` asks for a running process.
    pub(super) fn resolve_client(&mut self, sel: scenario::Selector, up: bool) -> Option<ClientId> {
        let candidates: Vec<ClientId> = self
            .clients
            .as_ref()?
            .slots
            .iter()
            .filter(|s| s.proc.is_some() == up)
            .map(|s| s.id)
            .collect();
        match sel {
            scenario::Selector::ClientN(n) => candidates.into_iter().find(|c| c.0 == n),
            scenario::Selector::Client => candidates.choose(&mut self.rng_faults).copied(),
            scenario::Selector::RecipeLeader => {
                let leader = self.world.recipe_leader?;
                candidates.into_iter().find(|c| *c == leader)
            }
            _ => None,
        }
    }

    /// A random client crash or pause of the swarm.
    pub(super) fn random_client_fault(&mut self, crash: bool, us: u64) {
        let Some(id) = self.resolve_client(scenario::Selector::Client, true) else {
            return;
        };
        let target = scenario::Selector::ClientN(id.0);
        if crash {
            self.executed(
                None,
                scenario::Action::Crash {
                    target,
                    restart_after_ms: Some(us / 1000),
                },
            );
            if self.crash_client(id, "random crash") {
                self.queue.push(self.world.now + us, Ev::ClientRestart(id));
            }
        } else {
            if self.client_slot(id).is_some_and(|s| s.paused) {
                return;
            }
            self.executed(
                None,
                scenario::Action::Pause {
                    target,
                    duration_ms: us / 1000,
                },
            );
            self.pause_client(id, us, "random pause");
        }
    }
}
