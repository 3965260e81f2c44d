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
use crate::world::Process;
use check::Happening;
use rand::seq::SliceRandom;
use rand::Rng;
use scenario::Clients;
use zab::client::{Client, ClientConfig, ClientOutputs, ProgramSettings};
use zab::client_api::{ClientEvent, RecipeEvent};
use zab::{ClientId, Endpoint, Zxid};

/// One client process slot.
pub(crate) struct ClientSlot {
    id: ClientId,
    /// `None` while crashed.
    pub(crate) client: Option<Client>,
    pub(crate) process: Process,
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
                client: None,
                process: Process::default(),
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

    /// Starts a new process for client `id`: it shuffles the connect string once (as
    /// StaticHostProvider does) and draws its own seed, both from the workload stream.
    pub(super) fn start_client(&mut self, id: ClientId) {
        let mut servers = self.world.members.clone();
        servers.shuffle(&mut self.rng_workload);
        let seed = self.rng_workload.gen();
        let now = self.world.now;
        let Some(cs) = &mut self.clients else { return };
        let settings = &cs.settings;
        let Some(slot) = usize::try_from(id.0)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| cs.slots.get_mut(i))
        else {
            return;
        };
        let cfg = ClientConfig {
            id: slot.id,
            servers,
            session_timeout_ms: u32::try_from(settings.session_timeout_ms).unwrap_or(u32::MAX),
            seed,
            program: ProgramSettings {
                workload: settings.workload,
                ops: slot.ops,
                write_ratio: settings.write_ratio,
                think_ms: settings.think_ms,
                index: slot.id.0,
                count: settings.count,
            },
        };
        let mut out = std::mem::take(&mut cs.out);
        slot.client = Some(Client::new(cfg, now, &mut out));
        self.world.clients_down.remove(&id);
        self.client_outputs(id, out);
        self.rearm(Endpoint::Client(id));
    }

    pub(super) fn client_slot(&self, id: ClientId) -> Option<&ClientSlot> {
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.clients.as_ref()?.slots.get(i)
    }

    pub(super) fn client_slot_mut(&mut self, id: ClientId) -> Option<&mut ClientSlot> {
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.clients.as_mut()?.slots.get_mut(i)
    }

    /// The buffer clients push their outputs into, reused across steps.
    pub(super) fn take_client_outputs(&mut self) -> ClientOutputs {
        self.clients
            .as_mut()
            .map(|c| std::mem::take(&mut c.out))
            .unwrap_or_default()
    }

    pub(super) fn put_client_outputs(&mut self, out: ClientOutputs) {
        if let Some(cs) = &mut self.clients {
            cs.out = out;
        }
    }

    /// A client reported an event; the election and lock recipes may act on the resource.
    pub(super) fn client_event(&mut self, id: ClientId, event: ClientEvent) {
        self.client_note(id, &event);
        if let ClientEvent::Recipe(RecipeEvent::UseResource { token }) = event {
            self.use_resource(id, token);
        }
    }

    /// Shows a client event to the checkers and the trace, and keeps the run's per-client
    /// counts and who believes it leads the election recipe or holds the lock (the
    /// `recipe-leader` selector).
    pub(super) fn client_note(&mut self, id: ClientId, event: &ClientEvent) {
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

    /// Resolves a client selector when its fault fires: `up` asks for a running process.
    pub(crate) fn resolve_client(&mut self, sel: scenario::Selector, up: bool) -> Option<ClientId> {
        let candidates: Vec<ClientId> = self
            .clients
            .as_ref()?
            .slots
            .iter()
            .filter(|s| s.client.is_some() == up)
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
}
