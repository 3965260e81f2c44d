//! Simulated clients running the `kv` workload.
//!
//! A client keeps one session connection to one server and at most one operation in flight,
//! like a synchronous ZooKeeper client. When its connection breaks, is refused, or stays
//! silent for the read timeout (two thirds of the session timeout, as ClientCnxn computes
//! it), it waits a random backoff of up to a second (ClientCnxn's reconnect delay), connects
//! to another server and resubmits the unanswered operation under a new cxid. Sessions,
//! znodes and the recipes build on this later.

use super::{Ev, Sim};
use crate::rng::between;
use check::{ClientEvent, Happening};
use rand::Rng;
use scenario::{Clients, OnKind};
use zab::{Channel, ClientId, ClientOp, Endpoint, Message, ServerId, TxnOp};

/// Keys the kv workload writes and reads: few enough that clients contend.
const KEYS: u32 = 8;
/// ClientCnxn sleeps up to a second before it reconnects.
const RECONNECT_BACKOFF_US: (u64, u64) = (0, 1_000_000);

/// One client's operation that has not been answered yet.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    op: u64,
    cxid: u64,
    what: ClientOp,
}

#[derive(Debug)]
pub(crate) struct Client {
    id: ClientId,
    /// The server its session connection goes to, while connected.
    server: Option<ServerId>,
    pending: Option<Pending>,
    next_op: u64,
    next_cxid: u64,
    /// Generation of its single timer (think, timeout or reconnect).
    timer_gen: u64,
}

/// The workload settings and the clients of one run.
pub(crate) struct Workload {
    settings: Clients,
    ops_left: u32,
    read_timeout_us: u64,
    pub(crate) clients: Vec<Client>,
}

impl Workload {
    pub(crate) fn new(settings: &Clients) -> Workload {
        Workload {
            settings: settings.clone(),
            ops_left: settings.ops,
            read_timeout_us: settings.session_timeout_ms * 1000 * 2 / 3,
            clients: (1..=settings.count)
                .map(|i| Client {
                    id: ClientId(i),
                    server: None,
                    pending: None,
                    next_op: 1,
                    next_cxid: 1,
                    timer_gen: 0,
                })
                .collect(),
        }
    }
}

impl Sim {
    /// Every client starts after one think time.
    pub(super) fn start_clients(&mut self) {
        let Some(w) = &self.workload else { return };
        let think = us_range(w.settings.think_ms);
        for i in 0..w.clients.len() {
            let delay = between(&mut self.rng_workload, think);
            self.arm_client(i, delay);
        }
    }

    fn arm_client(&mut self, i: usize, delay_us: u64) {
        let Some(w) = &mut self.workload else { return };
        let c = &mut w.clients[i];
        c.timer_gen += 1;
        let ev = Ev::ClientTimer {
            id: c.id,
            gen: c.timer_gen,
        };
        self.queue.push(self.world.now + delay_us, ev);
    }

    fn client_index(&self, id: ClientId) -> Option<usize> {
        let w = self.workload.as_ref()?;
        let i = usize::try_from(id.0).ok()?.checked_sub(1)?;
        (i < w.clients.len()).then_some(i)
    }

    /// The client's timer: think time over, request timed out, or reconnect backoff over.
    pub(super) fn client_timer(&mut self, id: ClientId, gen: u64) {
        let Some(i) = self.client_index(id) else {
            return;
        };
        let w = self.workload.as_mut().expect("workload");
        let c = &w.clients[i];
        if c.timer_gen != gen {
            return;
        }
        match (&c.pending, c.server) {
            (Some(_), Some(server)) => self.client_lost(i, server),
            (Some(_), None) => self.client_submit(i),
            (None, _) => {
                if w.ops_left == 0 {
                    return;
                }
                w.ops_left -= 1;
                let write = self.rng_workload.gen_bool(w.settings.write_ratio);
                let key = self.rng_workload.gen_range(0..KEYS);
                let c = &mut self.workload.as_mut().expect("workload").clients[i];
                let op = c.next_op;
                c.next_op += 1;
                let what = if write {
                    ClientOp::Write(TxnOp::SetData {
                        key,
                        value: u64::from(c.id.0) << 32 | op,
                    })
                } else {
                    ClientOp::Read { key }
                };
                c.pending = Some(Pending { op, cxid: 0, what });
                self.client_submit(i);
            }
        }
    }

    /// Sends the pending operation, connecting first if needed.
    fn client_submit(&mut self, i: usize) {
        let members = self.world.members.len();
        let w = self.workload.as_mut().expect("workload");
        let timeout = w.read_timeout_us;
        let c = &mut w.clients[i];
        let server = match c.server {
            Some(s) => s,
            None => {
                let s = self.world.members[self.rng_workload.gen_range(0..members)];
                c.server = Some(s);
                s
            }
        };
        let id = c.id;
        let cxid = c.next_cxid;
        c.next_cxid += 1;
        let p = c.pending.as_mut().expect("pending");
        p.cxid = cxid;
        let event = ClientEvent::Submitted {
            op: p.op,
            cxid,
            server,
            write: matches!(p.what, ClientOp::Write(_)),
        };
        let msg = Message::ClientRequest {
            cxid,
            op: p.what.clone(),
        };
        self.arm_client(i, timeout);
        self.note(Happening::Client { id, event: &event });
        let (from, to) = (Endpoint::Client(id), Endpoint::Server(server));
        self.check_triggers(OnKind::Send, msg.name(), from, to);
        self.note(Happening::Send {
            from,
            to,
            msg: &msg,
        });
        self.send(from, to, Channel::Client, msg);
    }

    /// The session connection to `server` is gone: back off, then try another server.
    fn client_lost(&mut self, i: usize, server: ServerId) {
        let w = self.workload.as_mut().expect("workload");
        let c = &mut w.clients[i];
        c.server = None;
        let id = c.id;
        let key = crate::network::conn_key(
            Endpoint::Client(id),
            Endpoint::Server(server),
            Channel::Client,
        );
        if self.world.net.break_conn(key) {
            self.notify(
                Endpoint::Server(server),
                Endpoint::Client(id),
                Channel::Client,
            );
        }
        let event = ClientEvent::ConnectionLoss { server };
        self.note(Happening::Client { id, event: &event });
        let backoff = between(&mut self.rng_workload, RECONNECT_BACKOFF_US);
        self.arm_client(i, backoff);
    }

    pub(super) fn client_receive(&mut self, id: ClientId, from: Endpoint, msg: Message) {
        let Some(i) = self.client_index(id) else {
            return;
        };
        let Message::ClientReply { cxid, zxid, .. } = msg else {
            return;
        };
        let Endpoint::Server(server) = from else {
            return;
        };
        let w = self.workload.as_mut().expect("workload");
        let think = us_range(w.settings.think_ms);
        let c = &mut w.clients[i];
        if c.server != Some(server) || c.pending.as_ref().is_none_or(|p| p.cxid != cxid) {
            return; // an answer to a request it gave up on
        }
        let p = c.pending.take().expect("pending");
        let event = ClientEvent::Answered {
            op: p.op,
            cxid,
            server,
            zxid,
        };
        self.note(Happening::Client { id, event: &event });
        let delay = between(&mut self.rng_workload, think);
        self.arm_client(i, delay);
    }

    /// The client learns that its connection broke.
    pub(super) fn client_disconnected(&mut self, id: ClientId, peer: Endpoint) {
        let Some(i) = self.client_index(id) else {
            return;
        };
        let c = &self.workload.as_ref().expect("workload").clients[i];
        if let Endpoint::Server(s) = peer {
            if c.server == Some(s) {
                if c.pending.is_some() {
                    self.client_lost(i, s);
                } else {
                    self.workload.as_mut().expect("workload").clients[i].server = None;
                }
            }
        }
    }
}

fn us_range((a, b): (u64, u64)) -> (u64, u64) {
    (a * 1000, b * 1000)
}
