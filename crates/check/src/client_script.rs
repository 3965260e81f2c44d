//! Client-side helpers for scripted histories: sessions, requests, replies on the wire, watch
//! events and recipe reports, reported the way the simulator reports them (the wire delivery
//! first, then what the client makes of it), on top of the server steps of [`crate::script`].

use crate::script::{initial, z, Script};
use crate::{Checker, ClientEvent, Happening};
use std::collections::BTreeMap;
use zab::client_api::RecipeEvent;
use zab::db::RequestId;
use zab::{
    ClientId, ClientOp, CreateMode, Endpoint, Event, EventType, Message, OpResult, Reply, ServerId,
    SessionId, Stat, Txn, TxnOp, WatchedEvent, Zxid,
};

/// What the script remembers of each client.
#[derive(Default)]
pub struct ClientsState {
    session: BTreeMap<u32, SessionId>,
    server: BTreeMap<u32, u8>,
    next_op: BTreeMap<u32, u64>,
    next_cxid: BTreeMap<u32, u64>,
}

/// A request's numbers: the client's operation and the cxid it went out with.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    pub op: u64,
    pub cxid: u64,
}

pub fn create(path: &str, mode: CreateMode) -> ClientOp {
    ClientOp::Create {
        path: path.into(),
        data: 0,
        mode,
    }
}

pub fn set_data(path: &str, data: u64) -> ClientOp {
    ClientOp::SetData {
        path: path.into(),
        data,
        version: -1,
    }
}

pub fn delete(path: &str) -> ClientOp {
    ClientOp::Delete {
        path: path.into(),
        version: -1,
    }
}

pub fn get_data(path: &str, watch: bool) -> ClientOp {
    ClientOp::GetData {
        path: path.into(),
        watch,
    }
}

pub fn exists(path: &str, watch: bool) -> ClientOp {
    ClientOp::Exists {
        path: path.into(),
        watch,
    }
}

pub fn get_children(path: &str, watch: bool) -> ClientOp {
    ClientOp::GetChildren {
        path: path.into(),
        watch,
    }
}

/// A plausible successful answer to a read.
pub fn read_ok(request: &ClientOp) -> Reply {
    match request {
        ClientOp::GetData { .. } => Reply::Data {
            data: 0,
            stat: Stat::default(),
        },
        ClientOp::Exists { .. } => Reply::Exists {
            stat: Some(Stat::default()),
        },
        ClientOp::GetChildren { .. } => Reply::Children { children: vec![] },
        _ => Reply::Synced,
    }
}

impl<C: Checker> Script<C> {
    /// Three servers serving clients: s1 leads epoch 2, s2 and s3 follow it in BROADCAST; the
    /// initial 1:1 is committed.
    pub fn serving(checker: C) -> Script<C> {
        let mut s = Script::new(3, checker);
        let init = vec![initial(1, 1)];
        s.start(
            &[(1, init.clone()), (2, init.clone()), (3, init)],
            Some(z(1, 1)),
        );
        s.lead(1, 2);
        for f in [2, 3] {
            s.follow(f, 1, 2);
            s.diff(f, 1, &[]);
        }
        s.establish(1, &[1, 2, 3]);
        for f in [2, 3] {
            s.up_to_date(f, 1);
        }
        s
    }

    pub fn client(&mut self, c: u32, event: ClientEvent) {
        self.happen(Happening::Client {
            id: ClientId(c),
            event: &event,
        });
    }

    pub fn session(&self, c: u32) -> SessionId {
        self.clients.session.get(&c).copied().unwrap_or_default()
    }

    /// The server the client is connected to.
    pub fn server_of(&self, c: u32) -> u8 {
        self.clients.server[&c]
    }

    /// The client connects to `server`; a new session (0x<c>) is created by a committed
    /// createSession txn first.
    pub fn connect(&mut self, c: u32, server: u8, timeout_ms: u32) {
        self.clients.server.insert(c, server);
        self.client(
            c,
            ClientEvent::Connecting {
                server: ServerId(server),
            },
        );
        let session = match self.clients.session.get(&c) {
            Some(s) => *s,
            None => {
                let s = SessionId(u64::from(c));
                self.txn(
                    TxnOp::CreateSession {
                        session: s,
                        timeout_ms,
                    },
                    None,
                );
                self.clients.session.insert(c, s);
                s
            }
        };
        let msg = Message::ConnectResponse {
            session,
            timeout_ms,
        };
        self.deliver_to_client(server, c, msg);
        self.client(
            c,
            ClientEvent::Connected {
                session,
                server: ServerId(server),
                timeout_ms,
            },
        );
    }

    /// The connection broke; the library fails what was in flight (`failed`).
    pub fn disconnect(&mut self, c: u32, failed: &[Req]) {
        let server = ServerId(self.server_of(c));
        self.client(c, ClientEvent::Disconnected { server });
        for r in failed {
            self.answered(c, *r, None, Err(zab::KeeperError::ConnectionLoss));
        }
    }

    fn deliver_to_client(&mut self, server: u8, c: u32, msg: Message) {
        self.happen(Happening::Deliver {
            from: Endpoint::Server(ServerId(server)),
            to: Endpoint::Client(ClientId(c)),
            msg: &msg,
        });
    }

    /// The client sends a request to the server it is connected to.
    pub fn submit(&mut self, c: u32, request: ClientOp) -> Req {
        let op = self.clients.next_op.entry(c).or_insert(0);
        *op += 1;
        let op = *op;
        let cxid = self.clients.next_cxid.entry(c).or_insert(0);
        *cxid += 1;
        let cxid = *cxid;
        let server = ServerId(self.server_of(c));
        self.client(
            c,
            ClientEvent::Submitted {
                op,
                cxid,
                server,
                request,
            },
        );
        Req { op, cxid }
    }

    /// A CLIENT_REPLY from the client's server reaches it.
    pub fn reply(&mut self, c: u32, r: Req, zxid: Zxid, result: OpResult) {
        let server = self.server_of(c);
        self.deliver_to_client(
            server,
            c,
            Message::ClientReply {
                cxid: r.cxid,
                zxid,
                result,
            },
        );
    }

    /// A CLIENT_REPLY from `server`, whichever server the client uses now.
    pub fn clients_reply_from(&mut self, server: u8, c: u32, cxid: u64, zxid: Zxid) {
        let result = Ok(Reply::Synced);
        self.deliver_to_client(server, c, Message::ClientReply { cxid, zxid, result });
    }

    /// The client library reports the answer.
    pub fn answered(&mut self, c: u32, r: Req, zxid: Option<Zxid>, result: OpResult) {
        self.client(
            c,
            ClientEvent::Answered {
                op: r.op,
                cxid: r.cxid,
                zxid,
                result,
            },
        );
    }

    /// The reply on the wire, then the library's report of it.
    pub fn answer(&mut self, c: u32, r: Req, zxid: Zxid, result: OpResult) {
        self.reply(c, r, zxid, result.clone());
        self.answered(c, r, Some(zxid), result);
    }

    /// The established leader.
    pub fn leader(&self) -> u8 {
        self.v
            .servers
            .iter()
            .find(|(id, s)| s.established && !self.v.down.contains(id))
            .map(|(id, _)| id.0)
            .expect("an established leader")
    }

    /// The leader proposes `op` for `request`; the servers in `loggers` log and ACK it.
    pub fn propose_op(
        &mut self,
        leader: u8,
        op: TxnOp,
        request: Option<RequestId>,
        loggers: &[u8],
    ) -> Txn {
        let s = &self.v.servers[&ServerId(leader)];
        let last = s
            .log
            .last()
            .map(|t| t.zxid)
            .unwrap_or_default()
            .max(s.tree.last_processed);
        let counter = if last.epoch() == s.epoch {
            last.counter() + 1
        } else {
            1
        };
        let t = Txn::from(zab::TxnFields {
            zxid: z(s.epoch, counter),
            proposer: ServerId(leader),
            request,
            op,
        });
        self.propose_txn(leader, &t, loggers);
        t
    }

    /// A txn the established leader proposes and commits everywhere: every follower of it logs
    /// and applies it, and everyone delivers it.
    pub fn txn(&mut self, op: TxnOp, request: Option<RequestId>) -> Txn {
        let leader = self.leader();
        let followers: Vec<u8> = self
            .v
            .servers
            .iter()
            .filter(|(id, s)| {
                id.0 != leader && s.leader == Some(ServerId(leader)) && !self.v.down.contains(id)
            })
            .map(|(id, _)| id.0)
            .collect();
        let t = self.propose_op(leader, op, request, &followers);
        let mut acks = followers.clone();
        acks.push(leader);
        self.commit(leader, &t, &acks, &followers);
        t
    }

    /// The txn a client request becomes at the leader.
    pub fn txn_op(&self, c: u32, request: &ClientOp) -> TxnOp {
        match request.clone() {
            ClientOp::Create { path, data, mode } => TxnOp::Create {
                path,
                data,
                ephemeral_owner: if mode.is_ephemeral() {
                    self.session(c)
                } else {
                    SessionId::NONE
                },
                parent_cversion: 1,
            },
            ClientOp::Delete { path, .. } => TxnOp::Delete { path },
            ClientOp::SetData { path, data, .. } => TxnOp::SetData {
                path,
                data,
                version: 1,
            },
            ClientOp::CloseSession => TxnOp::CloseSession {
                session: self.session(c),
            },
            other => panic!("{} is not a write", other.name()),
        }
    }

    /// A whole successful write: submitted, proposed and committed everywhere, answered.
    pub fn client_write(&mut self, c: u32, request: ClientOp) -> Txn {
        let r = self.submit(c, request.clone());
        let t = self.commit_request(c, r, &request);
        self.answer(c, r, t.zxid, Ok(write_ok(&request)));
        t
    }

    /// The leader proposes and commits the txn of a submitted request.
    pub fn commit_request(&mut self, c: u32, r: Req, request: &ClientOp) -> Txn {
        let op = self.txn_op(c, request);
        self.txn(
            op,
            Some(RequestId {
                client: ClientId(c),
                cxid: r.cxid,
            }),
        )
    }

    /// A read answered by the client's server at the zxid it has applied.
    pub fn client_read(&mut self, c: u32, request: ClientOp, result: OpResult) -> Zxid {
        let r = self.submit(c, request);
        let zxid = self.v.servers[&ServerId(self.server_of(c))]
            .tree
            .last_processed;
        self.answer(c, r, zxid, result);
        zxid
    }

    /// A watch notification from the client's server reaches it.
    pub fn watch_event(&mut self, c: u32, kind: EventType, path: &str, zxid: Zxid) {
        let server = self.server_of(c);
        let event = WatchedEvent {
            kind,
            path: path.into(),
            zxid,
        };
        self.deliver_to_client(server, c, Message::WatcherEvent(event.clone()));
        self.client(
            c,
            ClientEvent::Watch {
                event,
                server: ServerId(server),
            },
        );
    }

    pub fn recipe(&mut self, c: u32, event: RecipeEvent) {
        self.client(c, ClientEvent::Recipe(event));
    }

    /// The run's end: `liveness_ms` after the faults ended at `faults_over_us`.
    pub fn deadline(&mut self, faults_over_us: u64, at_us: u64) {
        self.v.now = at_us.saturating_sub(1_000);
        self.happen(Happening::LivenessDeadline { faults_over_us });
    }

    /// The leader reports a proposal and its followers log it (the step `propose` takes).
    fn propose_txn(&mut self, leader: u8, t: &Txn, loggers: &[u8]) {
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
        self.write(leader, zab::DiskOp::Append(t.clone()));
        for f in loggers {
            self.log(*f, t);
            self.send(*f, leader, Message::Ack { zxid: t.zxid });
        }
    }
}

/// The successful answer to a write.
pub fn write_ok(request: &ClientOp) -> Reply {
    match request {
        ClientOp::Create { path, .. } => Reply::Created { path: path.clone() },
        ClientOp::Delete { .. } => Reply::Deleted,
        ClientOp::SetData { .. } => Reply::SetData {
            stat: Stat::default(),
        },
        _ => Reply::Closed,
    }
}
