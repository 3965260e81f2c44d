//! A tiny deterministic world for driving real servers through `step` in unit tests: messages
//! arrive in send order with no delay, disk writes complete right after they are issued, and
//! time moves only to the next timer. Messages to clients are collected per client.

use crate::bug::Bug;
use crate::client_api::{ClientOp, CreateMode, OpResult, SessionId};
use crate::config::Config;
use crate::db::{DiskImage, DiskOp};
use crate::ids::{Channel, ClientId, Endpoint, ServerId, Zxid};
use crate::io::{Event, Input, Output, Outputs, ZabPhase};
use crate::message::{Message, ServerState};
use crate::server::Server;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

pub(crate) const TICK_US: u64 = 100_000;

pub(crate) struct Cluster {
    pub(crate) now: u64,
    pub(crate) servers: BTreeMap<ServerId, Server>,
    queue: VecDeque<(ServerId, Input)>,
    /// What each client received, and from which server.
    pub(crate) inbox: BTreeMap<ClientId, Vec<(ServerId, Message)>>,
    /// Client connections a server closed.
    pub(crate) closed: Vec<(ServerId, ClientId)>,
    pub(crate) events: Vec<(ServerId, Event)>,
    /// The bugs and hazards that acted, by server, in order.
    pub(crate) fired: Vec<(ServerId, Bug)>,
    /// Servers cut off from every other server.
    isolated: BTreeSet<ServerId>,
    /// Servers whose disk writes never complete (a stalled disk).
    stalled: BTreeSet<ServerId>,
    /// Every disk write issued, in order.
    pub(crate) writes: Vec<(ServerId, DiskOp)>,
    /// What each server has made durable: a write lands at once unless its disk is stalled.
    disks: BTreeMap<ServerId, DiskImage>,
    /// Every output, one line each, for the step scripts (`steps.rs`) to print.
    pub(crate) log: Vec<String>,
    cfg: Arc<Config>,
}

impl Cluster {
    /// Boots `n` participants with empty disks and runs until they serve.
    pub(crate) fn new(n: u8, bugs: &[Bug]) -> Cluster {
        Cluster::with_snap_count(n, bugs, 1000)
    }

    /// The same, with periodic snapshots every `snap_count` txns or so.
    pub(crate) fn with_snap_count(n: u8, bugs: &[Bug], snap_count: u32) -> Cluster {
        let mut c = Cluster::boot(n, bugs, snap_count);
        c.run_for(2_000_000);
        assert!(
            c.servers.values().all(|s| s.phase() == ZabPhase::Broadcast),
            "the ensemble serves after two seconds"
        );
        c
    }

    /// Boots `n` participants with empty disks at time 0; nothing has run yet.
    pub(crate) fn boot(n: u8, bugs: &[Bug], snap_count: u32) -> Cluster {
        let cfg = Arc::new(config(n, bugs, snap_count));
        let mut c = Cluster {
            now: 0,
            servers: BTreeMap::new(),
            queue: VecDeque::new(),
            inbox: BTreeMap::new(),
            closed: Vec::new(),
            events: Vec::new(),
            fired: Vec::new(),
            isolated: BTreeSet::new(),
            stalled: BTreeSet::new(),
            writes: Vec::new(),
            disks: BTreeMap::new(),
            log: Vec::new(),
            cfg: cfg.clone(),
        };
        for id in cfg.participants.clone() {
            c.disks.insert(id, DiskImage::default());
            c.restart(id);
        }
        c
    }

    pub(crate) fn leader(&self) -> ServerId {
        self.servers
            .values()
            .find(|s| s.state() == ServerState::Leading)
            .map(|s| s.id())
            .expect("a leader")
    }

    pub(crate) fn follower(&self) -> ServerId {
        self.servers
            .values()
            .find(|s| s.state() == ServerState::Following)
            .map(|s| s.id())
            .expect("a follower")
    }

    pub(crate) fn server(&self, id: ServerId) -> &Server {
        &self.servers[&id]
    }

    /// Boots `id` from what its disk holds, at the current time.
    pub(crate) fn restart(&mut self, id: ServerId) {
        let mut out = Outputs::default();
        let s = Server::boot(self.cfg.clone(), id, &self.disks[&id], self.now, &mut out);
        self.servers.insert(id, s);
        self.absorb(id, out);
    }

    /// Kills `id`: what it had not made durable is gone, inputs on their way to it are lost,
    /// and its peers see their connections to it break.
    pub(crate) fn crash(&mut self, id: ServerId) {
        self.servers.remove(&id);
        self.queue.retain(|(to, _)| *to != id);
        let peers: Vec<ServerId> = self.servers.keys().copied().collect();
        for p in peers {
            let peer = Endpoint::Server(id);
            let input = Input::Disconnected {
                peer,
                channel: Channel::Quorum,
            };
            self.queue.push_back((p, input));
        }
    }

    fn absorb(&mut self, id: ServerId, out: Outputs) {
        for o in out.items {
            self.log.push(crate::steps::line(id, &o));
            match o {
                Output::Send { to, channel, msg } => match to {
                    Endpoint::Server(t) if !self.servers.contains_key(&t) => {}
                    Endpoint::Server(t) => {
                        if !self.isolated.contains(&id) && !self.isolated.contains(&t) {
                            let from = Endpoint::Server(id);
                            let input = Input::Receive { from, channel, msg };
                            self.queue.push_back((t, input));
                        }
                    }
                    Endpoint::Client(c) => self.inbox.entry(c).or_default().push((id, msg)),
                },
                Output::Disk { id: w, op } => {
                    if !self.stalled.contains(&id) {
                        self.disks.get_mut(&id).expect("a disk").apply(&op);
                    }
                    self.writes.push((id, op));
                    if !self.stalled.contains(&id) {
                        self.queue.push_back((id, Input::DiskDone { id: w }));
                    }
                }
                Output::Close { peer, channel } => match peer {
                    Endpoint::Client(c) => self.closed.push((id, c)),
                    Endpoint::Server(p) => {
                        let input = Input::Disconnected {
                            peer: Endpoint::Server(id),
                            channel,
                        };
                        self.queue.push_back((p, input));
                    }
                },
                Output::Event(e) => self.events.push((id, e)),
                Output::Fired(bug) => self.fired.push((id, bug)),
            }
        }
    }

    fn step(&mut self, id: ServerId, input: Input) {
        let mut out = Outputs::default();
        let now = self.now;
        let Some(server) = self.servers.get_mut(&id) else {
            return; // crashed: what was on its way to it is lost
        };
        server.step(now, input, &mut out);
        self.absorb(id, out);
    }

    /// Delivers everything in flight, without moving time. Messages take no time here, so a
    /// server that leaves its role and rejoins at once can loop without end; a test must fail
    /// on that, not hang.
    pub(crate) fn flush(&mut self) {
        const MAX_STEPS: u32 = 1_000_000;
        let mut steps = 0;
        while let Some((id, input)) = self.queue.pop_front() {
            steps += 1;
            assert!(
                steps <= MAX_STEPS,
                "{MAX_STEPS} inputs at {} us without time moving: the servers loop",
                self.now
            );
            self.step(id, input);
        }
    }

    /// Moves time forward by `us`, firing timers on the way.
    pub(crate) fn run_for(&mut self, us: u64) {
        let end = self.now + us;
        loop {
            self.flush();
            let next = self
                .servers
                .iter()
                .filter_map(|(id, s)| Some((s.next_deadline()?, *id)))
                .filter(|(at, _)| *at <= end)
                .min();
            let Some((at, id)) = next else { break };
            self.now = self.now.max(at);
            self.step(id, Input::Timeout);
        }
        self.now = end;
    }

    /// A client packet reaches `server`; nothing else happens yet.
    pub(crate) fn deliver(&mut self, client: ClientId, server: ServerId, msg: Message) {
        let input = Input::Receive {
            from: Endpoint::Client(client),
            channel: Channel::Client,
            msg,
        };
        self.step(server, input);
    }

    /// A client packet reaches `server`, and everything it sets off runs to quiescence.
    pub(crate) fn send(&mut self, client: ClientId, server: ServerId, msg: Message) {
        self.deliver(client, server, msg);
        self.flush();
    }

    /// Takes what `client` received so far.
    pub(crate) fn take(&mut self, client: ClientId) -> Vec<Message> {
        self.inbox
            .remove(&client)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    pub(crate) fn isolate(&mut self, id: ServerId) {
        self.isolated.insert(id);
    }

    /// Ends `isolate`.
    pub(crate) fn heal(&mut self, id: ServerId) {
        self.isolated.remove(&id);
    }

    /// From now on none of `id`'s disk writes completes.
    pub(crate) fn stall_disk(&mut self, id: ServerId) {
        self.stalled.insert(id);
    }
}

/// `n` participants on `fixed`, ticks of `TICK_US`, initLimit 10, syncLimit 5.
pub(crate) fn config(n: u8, bugs: &[Bug], snap_count: u32) -> Config {
    Config {
        participants: (1..=n).map(ServerId).collect(),
        observers: vec![],
        tick_us: TICK_US,
        init_limit: 10,
        sync_limit: 5,
        snap_count,
        initial_zxid_counter: 0,
        bugs: bugs.iter().copied().collect(),
        version: crate::version::ZkVersion::Fixed,
        seed: 0,
    }
}

/// Opens a new session for `client` at `server`, asking for a 4 s timeout (granted 2 s, the
/// 20-tick maximum).
pub(crate) fn connect(c: &mut Cluster, client: ClientId, server: ServerId) -> SessionId {
    let msg = Message::Connect {
        session: SessionId::NONE,
        last_zxid_seen: Zxid::default(),
        timeout_ms: 4000,
    };
    c.send(client, server, msg);
    match c.take(client).as_slice() {
        [Message::ConnectResponse {
            session,
            timeout_ms: 2000,
        }] => *session,
        other => panic!("{other:?}"),
    }
}

/// Sends one request and returns its answer, which must be all the client received.
pub(crate) fn call(
    c: &mut Cluster,
    client: ClientId,
    server: ServerId,
    cxid: u64,
    op: ClientOp,
) -> (Zxid, OpResult) {
    c.send(client, server, Message::ClientRequest { cxid, op });
    let got = c.take(client);
    match got.as_slice() {
        [Message::ClientReply {
            cxid: x,
            zxid,
            result,
        }] if *x == cxid => (*zxid, result.clone()),
        other => panic!("{other:?}"),
    }
}

/// Sends one request that must succeed; returns its zxid.
pub(crate) fn ok(
    c: &mut Cluster,
    client: ClientId,
    server: ServerId,
    cxid: u64,
    op: ClientOp,
) -> Zxid {
    let (zxid, result) = call(c, client, server, cxid, op);
    assert!(result.is_ok(), "{result:?}");
    zxid
}

pub(crate) fn create(path: &str, mode: CreateMode) -> ClientOp {
    ClientOp::Create {
        path: path.into(),
        data: 1,
        mode,
    }
}
