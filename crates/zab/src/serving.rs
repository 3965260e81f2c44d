//! The client-facing side of a server: connections and sessions, the request pipeline
//! (`FollowerRequestProcessor`, `CommitProcessor`, `FinalRequestProcessor`), reads from the
//! local tree, and watch delivery.
//!
//! A server answers clients only while it serves (BROADCAST): ZooKeeper refuses client
//! connections while a server is looking or syncing, and drops them all when it leaves its
//! role, so a client fails over to another server. Writes and syncs go to the leader (a
//! follower or observer forwards them as REQUEST); the server the client is connected to
//! answers once the txn is committed and applied there. Reads are answered locally, but never
//! ahead of an earlier write or sync of the same connection: `CommitProcessor` holds a
//! session's read until its pending writes are done, which is what gives a client
//! read-your-writes on a follower that lags.

use crate::bug::Bug;
use crate::client_api::WatchedEvent;
use crate::client_api::{ClientOp, EventType, KeeperError, OpResult, Reply, SessionId, WatchKind};
use crate::db::{RequestId, Txn, TxnOp};
use crate::ids::{Channel, ClientId, Endpoint, Zxid};
use crate::io::{Output, Outputs, ZabPhase};
use crate::message::{Message, Request, RequestOp};
use crate::server::{Role, Server};
use crate::sessions::negotiate_timeout;
use crate::tree::{validate_path, Applied};
use std::collections::VecDeque;

/// Where a connection's session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// A new session: its createSession txn is on its way through the leader.
    AwaitCreate,
    /// A resumed session: the leader is asked whether it is still alive.
    AwaitRevalidate,
    Open,
}

/// A request of a connection whose answer has not gone out yet.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    /// A write or sync at the leader.
    Awaiting,
    /// Answered, waiting for the requests before it.
    Done { zxid: Zxid, result: OpResult },
    /// A read held behind the connection's earlier writes.
    Read(ClientOp),
}

/// One client connection (`ServerCnxn`) and what the server keeps for it.
#[derive(Clone, Debug)]
pub(crate) struct ClientConn {
    pub(crate) session: SessionId,
    timeout_ms: u32,
    state: ConnState,
    /// Packets that arrived before the session was established; ZooKeeper stops reading
    /// from the socket until then.
    backlog: Vec<Message>,
    /// Requests in arrival order, by cxid, whose answers are not out yet.
    queue: VecDeque<(u64, Pending)>,
}

impl Server {
    pub(crate) fn on_client(&mut self, client: ClientId, msg: Message, out: &mut Outputs) {
        if self.phase != ZabPhase::Broadcast {
            // "ZooKeeperServer not running": the connection is closed.
            self.close_client(client, out);
            return;
        }
        if let Message::Connect {
            session,
            last_zxid_seen,
            timeout_ms,
        } = msg
        {
            return self.on_connect(client, session, last_zxid_seen, timeout_ms, out);
        }
        let Some(conn) = self.clients.get_mut(&client) else {
            // Nothing but CONNECT opens a connection.
            self.close_client(client, out);
            return;
        };
        if conn.state != ConnState::Open {
            conn.backlog.push(msg);
            return;
        }
        self.on_session_packet(client, msg, out);
    }

    /// `ZooKeeperServer.processConnectRequest`.
    fn on_connect(
        &mut self,
        client: ClientId,
        session: SessionId,
        last_zxid_seen: Zxid,
        requested_ms: u32,
        out: &mut Outputs,
    ) {
        // A new CONNECT on a connection starts over.
        self.forget_client(client);
        if last_zxid_seen > self.tree.last_processed {
            // "Refusing session request for client as it has seen zxid ... our last zxid is
            // ...": the client must find a server at least as new as what it has seen.
            self.close_client(client, out);
            return;
        }
        let timeout_ms = negotiate_timeout(requested_ms, self.cfg.tick_us);
        if session == SessionId::NONE {
            let session = SessionId(self.next_session_id);
            self.next_session_id += 1;
            self.open_conn(client, session, timeout_ms, ConnState::AwaitCreate);
            let req = Request {
                session,
                client,
                cxid: 0,
                via: self.id,
                op: RequestOp::CreateSession { timeout_ms },
            };
            self.touch_session(session, timeout_ms);
            self.submit(req, out);
            return;
        }
        self.open_conn(client, session, timeout_ms, ConnState::AwaitRevalidate);
        match &self.role {
            Role::Leading(_) => {
                let valid = self.leader_touch(session);
                self.revalidated(session, valid, out);
            }
            Role::Learning(l) => {
                // Observers ask too: only the leader knows whether a session lives.
                let msg = Message::Revalidate {
                    session,
                    timeout_ms,
                    valid: false,
                };
                out.send(l.leader, Channel::Quorum, msg);
            }
            Role::Looking(_) | Role::Failed => {}
        }
    }

    fn open_conn(&mut self, client: ClientId, session: SessionId, timeout_ms: u32, st: ConnState) {
        let conn = ClientConn {
            session,
            timeout_ms,
            state: st,
            backlog: Vec::new(),
            queue: VecDeque::new(),
        };
        self.clients.insert(client, conn);
    }

    /// The leader's verdict on a resumed session: valid sessions are open for business, an
    /// expired one hears so (a zero timeout) and is disconnected.
    pub(crate) fn revalidated(&mut self, session: SessionId, valid: bool, out: &mut Outputs) {
        let waiting: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.session == session && c.state == ConnState::AwaitRevalidate)
            .map(|(id, _)| *id)
            .collect();
        for client in waiting {
            if valid {
                self.establish_session(client, out);
            } else {
                out.reply(
                    client,
                    Message::ConnectResponse {
                        session,
                        timeout_ms: 0,
                    },
                );
                self.close_client(client, out);
            }
        }
    }

    /// The session is established: CONNECT_RESPONSE, then whatever the client sent meanwhile.
    fn establish_session(&mut self, client: ClientId, out: &mut Outputs) {
        let Some(conn) = self.clients.get_mut(&client) else {
            return;
        };
        conn.state = ConnState::Open;
        let (session, timeout_ms) = (conn.session, conn.timeout_ms);
        let backlog = std::mem::take(&mut conn.backlog);
        out.reply(
            client,
            Message::ConnectResponse {
                session,
                timeout_ms,
            },
        );
        for msg in backlog {
            if !self.clients.contains_key(&client) {
                return;
            }
            self.on_session_packet(client, msg, out);
        }
    }

    /// A packet on an established session.
    fn on_session_packet(&mut self, client: ClientId, msg: Message, out: &mut Outputs) {
        let Some(conn) = self.clients.get(&client) else {
            return;
        };
        let (session, timeout_ms) = (conn.session, conn.timeout_ms);
        match msg {
            Message::ClientPing => {
                self.touch_session(session, timeout_ms);
                out.reply(client, Message::ClientPing);
            }
            Message::ClientRequest { cxid, op } => {
                self.touch_session(session, timeout_ms);
                self.on_request(client, session, cxid, op, out);
            }
            Message::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => self.set_watches(client, relative_zxid, data, exist, child, out),
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        client: ClientId,
        session: SessionId,
        cxid: u64,
        op: ClientOp,
        out: &mut Outputs,
    ) {
        let Some(conn) = self.clients.get_mut(&client) else {
            return;
        };
        if op.is_write() || matches!(op, ClientOp::Sync { .. }) {
            // Queued before submitting: a leader may answer a sync on the spot.
            conn.queue.push_back((cxid, Pending::Awaiting));
            let req = Request {
                session,
                client,
                cxid,
                via: self.id,
                op: RequestOp::Client(op),
            };
            self.submit(req, out);
        } else if conn.queue.is_empty() || self.cfg.has(Bug::StaleReadOwnWrite) {
            // The stale-read-own-write variant lets a read overtake the session's pending
            // writes, so it may miss the client's own write.
            let zxid = self.tree.last_processed;
            let result = self.read(client, &op);
            out.reply(client, Message::ClientReply { cxid, zxid, result });
        } else {
            conn.queue.push_back((cxid, Pending::Read(op)));
        }
    }

    /// Hands a request to the leader: the leader preps it itself, a learner forwards it.
    fn submit(&mut self, req: Request, out: &mut Outputs) {
        match &self.role {
            Role::Leading(_) => self.leader_submit(req, out),
            Role::Learning(l) => out.send(l.leader, Channel::Quorum, Message::Request(req)),
            Role::Looking(_) | Role::Failed => {}
        }
    }

    /// Keeps a session of a client connected here alive: at the leader directly, at a
    /// learner in its next answer to the leader's PING.
    fn touch_session(&mut self, session: SessionId, timeout_ms: u32) {
        match &self.role {
            Role::Leading(_) => {
                self.leader_touch(session);
            }
            Role::Learning(_) => self.learner_touch(session, timeout_ms),
            Role::Looking(_) | Role::Failed => {}
        }
    }

    /// A read from the local tree (`FinalRequestProcessor`), registering a watch if asked.
    fn read(&mut self, client: ClientId, op: &ClientOp) -> OpResult {
        let path = op.path().ok_or(KeeperError::BadArguments)?;
        validate_path(path, false)?;
        match *op {
            ClientOp::GetData { watch, .. } => {
                let node = self.tree.get(path).ok_or(KeeperError::NoNode)?;
                let reply = Reply::Data {
                    data: node.data,
                    stat: node.stat,
                };
                if watch {
                    self.watches.add(WatchKind::Data, path, client);
                }
                Ok(reply)
            }
            ClientOp::Exists { watch, .. } => {
                let stat = self.tree.stat(path);
                if watch {
                    let kind = if stat.is_some() {
                        WatchKind::Data
                    } else {
                        WatchKind::Exist
                    };
                    self.watches.add(kind, path, client);
                }
                Ok(Reply::Exists { stat })
            }
            ClientOp::GetChildren { watch, .. } => {
                let children = self.tree.children(path).ok_or(KeeperError::NoNode)?;
                if watch {
                    self.watches.add(WatchKind::Child, path, client);
                }
                Ok(Reply::Children { children })
            }
            _ => Err(KeeperError::BadArguments),
        }
    }

    /// `DataTree.setWatches`: re-registers a reconnecting client's watches, firing at once
    /// those whose condition changed since `relative_zxid`, the last zxid the client saw.
    fn set_watches(
        &mut self,
        client: ClientId,
        relative_zxid: Zxid,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
        out: &mut Outputs,
    ) {
        let last = self.tree.last_processed;
        // An event fired here carries the zxid of the change when the tree still shows it,
        // and the server's last zxid for a node that is gone.
        let mut fire = |kind: EventType, path: String, zxid: Zxid| {
            let event = WatchedEvent { kind, path, zxid };
            out.reply(client, Message::WatcherEvent(event));
        };
        for path in data {
            match self.tree.stat(&path) {
                None => fire(EventType::NodeDeleted, path, last),
                Some(s) if s.mzxid > relative_zxid => {
                    fire(EventType::NodeDataChanged, path, s.mzxid)
                }
                Some(_) => self.watches.add(WatchKind::Data, &path, client),
            }
        }
        for path in exist {
            match self.tree.stat(&path) {
                Some(s) => fire(EventType::NodeCreated, path, s.czxid),
                None => self.watches.add(WatchKind::Exist, &path, client),
            }
        }
        for path in child {
            match self.tree.stat(&path) {
                None => fire(EventType::NodeDeleted, path, last),
                Some(s) if s.pzxid > relative_zxid => {
                    fire(EventType::NodeChildrenChanged, path, s.pzxid)
                }
                Some(_) => self.watches.add(WatchKind::Child, &path, client),
            }
        }
    }

    /// A committed txn was applied here: fire its watches, then answer its client if it is
    /// connected to this server, in that order so that an event precedes any later reply.
    pub(crate) fn on_applied(&mut self, txn: &Txn, applied: Applied, out: &mut Outputs) {
        for (kind, path) in applied.triggers {
            for client in self.watches.trigger(kind, &path) {
                if self.clients.contains_key(&client) {
                    let event = WatchedEvent {
                        kind,
                        path: path.clone(),
                        zxid: txn.zxid,
                    };
                    out.reply(client, Message::WatcherEvent(event));
                }
            }
        }
        match &txn.op {
            TxnOp::CreateSession { session, .. } => {
                let waiting: Vec<ClientId> = self
                    .clients
                    .iter()
                    .filter(|(_, c)| c.session == *session && c.state == ConnState::AwaitCreate)
                    .map(|(id, _)| *id)
                    .collect();
                for client in waiting {
                    self.establish_session(client, out);
                }
            }
            TxnOp::CloseSession { session } => {
                if let Role::Leading(l) = &mut self.role {
                    l.tracker.remove(*session);
                }
            }
            _ => {}
        }
        if let (Some(req), Some(result)) = (txn.request, applied.result) {
            self.complete(req, txn.zxid, result, out);
        }
        if let TxnOp::CloseSession { session } = &txn.op {
            // The session is over on every server: its connections are closed (after the
            // closing client's own answer, which `complete` just sent).
            let gone: Vec<ClientId> = self
                .clients
                .iter()
                .filter(|(_, c)| c.session == *session)
                .map(|(id, _)| *id)
                .collect();
            for client in gone {
                self.close_client(client, out);
            }
        }
    }

    /// A sync this server forwarded (or made, at the leader) is answered: everything the
    /// leader had proposed before it is applied here.
    pub(crate) fn sync_done(&mut self, req: &Request, out: &mut Outputs) {
        let id = RequestId {
            client: req.client,
            cxid: req.cxid,
        };
        let zxid = self.tree.last_processed;
        self.complete(id, zxid, Ok(Reply::Synced), out);
    }

    /// Records the answer of a write or sync and sends every answer that is now next in its
    /// connection's order.
    fn complete(&mut self, req: RequestId, zxid: Zxid, result: OpResult, out: &mut Outputs) {
        let Some(conn) = self.clients.get_mut(&req.client) else {
            return;
        };
        let Some(entry) = conn
            .queue
            .iter_mut()
            .find(|(cxid, p)| *cxid == req.cxid && *p == Pending::Awaiting)
        else {
            return; // a request of an earlier connection of this client
        };
        entry.1 = Pending::Done { zxid, result };
        self.drain(req.client, out);
    }

    /// `CommitProcessor`: answers the connection's requests from the front while they can be.
    fn drain(&mut self, client: ClientId, out: &mut Outputs) {
        loop {
            let Some(conn) = self.clients.get_mut(&client) else {
                return;
            };
            let Some((cxid, front)) = conn.queue.front() else {
                return;
            };
            let cxid = *cxid;
            match front {
                Pending::Awaiting => return,
                Pending::Done { zxid, result } => {
                    let msg = Message::ClientReply {
                        cxid,
                        zxid: *zxid,
                        result: result.clone(),
                    };
                    conn.queue.pop_front();
                    out.reply(client, msg);
                }
                Pending::Read(op) => {
                    let op = op.clone();
                    conn.queue.pop_front();
                    let zxid = self.tree.last_processed;
                    let result = self.read(client, &op);
                    out.reply(client, Message::ClientReply { cxid, zxid, result });
                }
            }
        }
    }

    /// Forgets a connection: its session state, queued requests and watches.
    fn forget_client(&mut self, client: ClientId) {
        self.clients.remove(&client);
        self.watches.remove_client(client);
    }

    /// Closes a connection from the server's side.
    pub(crate) fn close_client(&mut self, client: ClientId, out: &mut Outputs) {
        self.forget_client(client);
        out.items.push(Output::Close {
            peer: Endpoint::Client(client),
            channel: Channel::Client,
        });
    }

    /// The client's side of the connection broke.
    pub(crate) fn client_disconnected(&mut self, client: ClientId) {
        self.forget_client(client);
    }

    /// Leaving a role: every client connection is closed, as ZooKeeperServer.shutdown does.
    pub(crate) fn close_clients(&mut self, out: &mut Outputs) {
        for client in std::mem::take(&mut self.clients).into_keys() {
            out.items.push(Output::Close {
                peer: Endpoint::Client(client),
                channel: Channel::Client,
            });
        }
        self.watches.clear();
    }

    /// The session of a client connected here, if it has one.
    pub fn client_session(&self, client: ClientId) -> Option<SessionId> {
        self.clients.get(&client).map(|c| c.session)
    }
}
