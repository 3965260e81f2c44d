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
use crate::path::Path;
use crate::peer::Peer;
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
        if self.peer.phase != ZabPhase::Broadcast || matches!(self.role, Role::Flushing(_)) {
            // "ZooKeeperServer not running": the connection is closed.
            self.peer.close_client(client, out);
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
        let Some(conn) = self.peer.clients.get_mut(&client) else {
            // Nothing but CONNECT opens a connection.
            self.peer.close_client(client, out);
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
        self.peer.forget_client(client);
        if last_zxid_seen > self.peer.tree.last_processed {
            // "Refusing session request for client as it has seen zxid ... our last zxid is
            // ...": the client must find a server at least as new as what it has seen.
            self.peer.close_client(client, out);
            return;
        }
        let timeout_ms = negotiate_timeout(requested_ms, self.peer.cfg.tick_us);
        if session == SessionId::NONE {
            let session = SessionId(self.peer.next_session_id);
            self.peer.next_session_id += 1;
            self.peer
                .open_conn(client, session, timeout_ms, ConnState::AwaitCreate);
            let req = Request {
                session,
                client,
                cxid: 0,
                via: self.peer.id,
                op: RequestOp::CreateSession { timeout_ms },
            };
            self.touch_session(session, timeout_ms);
            self.submit(req, out);
            return;
        }
        self.peer
            .open_conn(client, session, timeout_ms, ConnState::AwaitRevalidate);
        let peer = &mut self.peer;
        match &mut self.role {
            Role::Leading(l) => {
                let valid = l.touch(peer, session);
                if valid {
                    // LeaderZooKeeperServer.revalidateSession: the leader's own connection owns
                    // the session now.
                    l.tracker.set_owner(session, peer.id);
                }
                peer.revalidated(session, valid, out);
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
            Role::Looking(_) | Role::Flushing(_) | Role::Failed => {}
        }
    }

    /// Reads what a client sent while its session was being established.
    pub(crate) fn read_backlog(&mut self, client: ClientId, out: &mut Outputs) {
        let Some(conn) = self.peer.clients.get_mut(&client) else {
            return;
        };
        let backlog = std::mem::take(&mut conn.backlog);
        for msg in backlog {
            if !self.peer.clients.contains_key(&client) {
                return;
            }
            self.on_session_packet(client, msg, out);
        }
    }

    /// A packet on an established session.
    fn on_session_packet(&mut self, client: ClientId, msg: Message, out: &mut Outputs) {
        let Some(conn) = self.peer.clients.get(&client) else {
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
            } => self
                .peer
                .set_watches(client, relative_zxid, data, exist, child, out),
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
        let Some(conn) = self.peer.clients.get_mut(&client) else {
            return;
        };
        if op.is_write() || matches!(op, ClientOp::Sync { .. }) {
            // Queued before submitting: a leader may answer a sync on the spot.
            conn.queue.push_back((cxid, Pending::Awaiting));
            let req = Request {
                session,
                client,
                cxid,
                via: self.peer.id,
                op: RequestOp::Client(op),
            };
            self.submit(req, out);
        } else if conn.queue.is_empty() || self.peer.cfg.has(Bug::StaleReadOwnWrite) {
            // The stale-read-own-write variant lets a read overtake the session's pending
            // writes, so it may miss the client's own write.
            let zxid = self.peer.tree.last_processed;
            let result = self.peer.read(client, &op);
            out.reply(client, Message::ClientReply { cxid, zxid, result });
        } else {
            conn.queue.push_back((cxid, Pending::Read(op)));
        }
    }

    /// Hands a request to the leader: the leader preps it itself, a learner forwards it.
    fn submit(&mut self, req: Request, out: &mut Outputs) {
        match &mut self.role {
            Role::Leading(l) => l.submit(&mut self.peer, req, out),
            Role::Learning(l) => out.send(l.leader, Channel::Quorum, Message::Request(req)),
            Role::Looking(_) | Role::Flushing(_) | Role::Failed => {}
        }
    }

    /// Keeps a session of a client connected here alive: at the leader directly, at a
    /// learner in its next answer to the leader's PING.
    fn touch_session(&mut self, session: SessionId, timeout_ms: u32) {
        match &mut self.role {
            Role::Leading(l) => {
                l.touch(&self.peer, session);
            }
            Role::Learning(l) => l.touch(session, timeout_ms),
            Role::Looking(_) | Role::Flushing(_) | Role::Failed => {}
        }
    }

    /// The session of a client connected here, if it has one.
    pub fn client_session(&self, client: ClientId) -> Option<SessionId> {
        self.peer.clients.get(&client).map(|c| c.session)
    }
}

impl Peer {
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

    /// The session is established: CONNECT_RESPONSE, then whatever the client sent meanwhile,
    /// which the server reads once the current handler returns (`finishSessionInit` then
    /// `enableRecv`, NIOServerCnxn).
    fn establish_session(&mut self, client: ClientId, out: &mut Outputs) {
        let Some(conn) = self.clients.get_mut(&client) else {
            return;
        };
        conn.state = ConnState::Open;
        let (session, timeout_ms) = (conn.session, conn.timeout_ms);
        out.reply(
            client,
            Message::ConnectResponse {
                session,
                timeout_ms,
            },
        );
        if !conn.backlog.is_empty() {
            self.reenabled.push(client);
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
                    stat: node.stat.for_client(),
                };
                if watch {
                    self.watches.add(WatchKind::Data, path, client);
                }
                Ok(reply)
            }
            ClientOp::Exists { watch, .. } => {
                let stat = self.tree.client_stat(path);
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
        data: Vec<Path>,
        exist: Vec<Path>,
        child: Vec<Path>,
        out: &mut Outputs,
    ) {
        let last = self.tree.last_processed;
        // An event fired here carries the zxid of the change when the tree still shows it,
        // and the server's last zxid for a node that is gone.
        let mut fire = |kind: EventType, path: Path, zxid: Zxid| {
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
        if let TxnOp::CreateSession { session, .. } = &txn.op {
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
        if result == Err(KeeperError::SessionMoved) {
            // FinalRequestProcessor (FinalRequestProcessor.java:577-587 / 566-576) answers a
            // SESSIONMOVED with `cnxn.sendCloseSession()`: no reply, the connection closes.
            let ours = conn
                .queue
                .iter()
                .any(|(cxid, p)| *cxid == req.cxid && *p == Pending::Awaiting);
            if ours {
                self.close_client(req.client, out);
            }
            return;
        }
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
}

#[cfg(test)]
mod tests {
    use crate::bug::Bug;
    use crate::client_api::{
        ClientOp, CreateMode, EventType, KeeperError, OpResult, Reply, SessionId, WatchedEvent,
    };
    use crate::ids::{ClientId, ServerId, Zxid};
    use crate::message::Message;
    use crate::testkit::{call, connect, create, ok, Cluster};

    const C1: ClientId = ClientId(1);
    const C2: ClientId = ClientId(2);
    const S1: ServerId = ServerId(1);

    fn get(path: &str, watch: bool) -> ClientOp {
        ClientOp::GetData {
            path: path.into(),
            watch,
        }
    }

    fn set(path: &str, data: u64) -> ClientOp {
        ClientOp::SetData {
            path: path.into(),
            data,
            version: -1,
        }
    }

    fn event(kind: EventType, path: &str, zxid: Zxid) -> Message {
        Message::WatcherEvent(WatchedEvent {
            kind,
            path: path.into(),
            zxid,
        })
    }

    /// SessionTrackerImpl.checkSession: once the session reconnected through another server,
    /// a write still arriving through the old connection is refused with SESSIONMOVED, which
    /// the server answers by closing that connection (FinalRequestProcessor), and nothing is
    /// written.
    #[test]
    fn a_write_through_the_server_a_session_left_is_refused() {
        let mut c = Cluster::new(3, &[]);
        let leader = c.leader();
        let mut learners = c.servers.keys().copied().filter(|s| *s != leader);
        let (a, b) = (learners.next().unwrap(), learners.next().unwrap());
        let session = connect(&mut c, C1, a);
        // The client's new socket (another connection id) resumes the session through b.
        let resume = Message::Connect {
            session,
            last_zxid_seen: Zxid::default(),
            timeout_ms: 4000,
        };
        c.send(C2, b, resume);
        assert!(matches!(
            c.take(C2).as_slice(),
            [Message::ConnectResponse { session: s, .. }] if *s == session
        ));
        let write = Message::ClientRequest {
            cxid: 1,
            op: create("/moved", CreateMode::Persistent),
        };
        c.send(C1, a, write);
        assert!(
            c.take(C1).is_empty(),
            "no answer: SESSIONMOVED closes instead"
        );
        assert!(c.closed.contains(&(a, C1)), "{a} closes the old connection");
        for s in c.servers.values() {
            assert!(
                !s.tree().exists("/moved"),
                "{} applied the moved write",
                s.id()
            );
        }
        // Through the server the session moved to, writes go on.
        ok(&mut c, C2, b, 1, create("/here", CreateMode::Persistent));
    }

    #[test]
    fn a_new_session_is_answered_once_its_txn_applies() {
        let mut c = Cluster::new(1, &[]);
        let msg = Message::Connect {
            session: SessionId::NONE,
            last_zxid_seen: Zxid::default(),
            timeout_ms: 100,
        };
        c.deliver(C1, S1, msg);
        assert!(
            c.take(C1).is_empty(),
            "the createSession txn is not durable yet"
        );
        c.flush();
        let session = match c.take(C1).as_slice() {
            [Message::ConnectResponse {
                session,
                timeout_ms: 200,
            }] => *session,
            other => panic!("{other:?}"),
        };
        assert_eq!(session.0 >> 56, 1, "the server's id in the top byte");
        assert!(c.server(S1).tree().has_session(session));
        assert_eq!(c.server(S1).client_session(C1), Some(session));
        let second = connect(&mut c, C2, S1);
        assert_ne!(session, second);
    }

    #[test]
    fn writes_and_reads_answer_with_their_results() {
        let mut c = Cluster::new(1, &[]);
        connect(&mut c, C1, S1);
        let (z1, r) = call(&mut c, C1, S1, 1, create("/a", CreateMode::Persistent));
        assert_eq!(r, Ok(Reply::Created { path: "/a".into() }));
        let (z2, r) = call(&mut c, C1, S1, 2, create("/a", CreateMode::Persistent));
        assert_eq!(r, Err(KeeperError::NodeExists));
        assert!(z2 > z1, "a failed write still takes a zxid");
        let (z, r) = call(&mut c, C1, S1, 3, get("/a", false));
        assert_eq!(z, z2, "a read carries the last applied zxid");
        let Ok(Reply::Data { data: 1, stat }) = r else {
            panic!("{r:?}")
        };
        assert_eq!((stat.czxid, stat.version), (z1, 0));
        let (_, r) = call(&mut c, C1, S1, 4, set("/a", 5));
        assert!(matches!(r, Ok(Reply::SetData { stat }) if stat.version == 1));
        let (_, r) = call(
            &mut c,
            C1,
            S1,
            5,
            create("/a/s-", CreateMode::PersistentSequential),
        );
        assert_eq!(
            r,
            Ok(Reply::Created {
                path: "/a/s-0000000000".into()
            })
        );
        let children = ClientOp::GetChildren {
            path: "/a".into(),
            watch: false,
        };
        let (_, r) = call(&mut c, C1, S1, 6, children);
        assert_eq!(
            r,
            Ok(Reply::Children {
                children: vec!["s-0000000000".into()]
            })
        );
        let exists = ClientOp::Exists {
            path: "/b".into(),
            watch: false,
        };
        assert_eq!(
            call(&mut c, C1, S1, 7, exists).1,
            Ok(Reply::Exists { stat: None })
        );
        let delete = ClientOp::Delete {
            path: "/a".into(),
            version: -1,
        };
        assert_eq!(
            call(&mut c, C1, S1, 8, delete).1,
            Err(KeeperError::NotEmpty)
        );
        assert_eq!(
            call(&mut c, C1, S1, 9, get("/nope", false)).1,
            Err(KeeperError::NoNode)
        );
        assert_eq!(
            call(&mut c, C1, S1, 10, get("bad", false)).1,
            Err(KeeperError::BadArguments)
        );
    }

    /// A write and a read of one session pipelined: returns what the client saw, in order.
    fn write_then_read(n: u8, bugs: &[Bug]) -> (Vec<Message>, Vec<Message>) {
        let mut c = Cluster::new(n, bugs);
        let s = if n == 1 { S1 } else { c.follower() };
        connect(&mut c, C1, s);
        connect(&mut c, C2, s);
        let write = create("/k", CreateMode::Persistent);
        c.deliver(C1, s, Message::ClientRequest { cxid: 1, op: write });
        c.deliver(
            C1,
            s,
            Message::ClientRequest {
                cxid: 2,
                op: get("/k", false),
            },
        );
        c.deliver(
            C2,
            s,
            Message::ClientRequest {
                cxid: 1,
                op: get("/k", false),
            },
        );
        let other = c.take(C2);
        let early = c.take(C1);
        c.flush();
        let mut seen = early;
        seen.extend(c.take(C1));
        (seen, other)
    }

    fn reply_of(m: &Message) -> (u64, OpResult) {
        match m {
            Message::ClientReply { cxid, result, .. } => (*cxid, result.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_read_waits_for_the_sessions_own_write() {
        for n in [1, 3] {
            a_read_waits_for_the_sessions_own_write_on(n);
        }
    }

    fn a_read_waits_for_the_sessions_own_write_on(n: u8) {
        let (seen, other) = write_then_read(n, &[]);
        let seen: Vec<_> = seen.iter().map(reply_of).collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, 1, "the write is answered first");
        assert_eq!(seen[1].0, 2);
        assert!(matches!(seen[1].1, Ok(Reply::Data { .. })), "{seen:?}");
        // Another session's read is not held back by it.
        assert_eq!(
            other.iter().map(reply_of).collect::<Vec<_>>(),
            vec![(1, Err(KeeperError::NoNode))]
        );
    }

    #[test]
    fn stale_read_own_write_answers_the_read_early() {
        for n in [1, 3] {
            stale_read_own_write_on(n);
        }
    }

    fn stale_read_own_write_on(n: u8) {
        let (seen, _) = write_then_read(n, &[Bug::StaleReadOwnWrite]);
        let seen: Vec<_> = seen.iter().map(reply_of).collect();
        assert_eq!(
            seen[0],
            (2, Err(KeeperError::NoNode)),
            "the read overtakes the client's own create"
        );
        assert_eq!(seen[1].0, 1);
    }

    #[test]
    fn watches_fire_once_and_before_later_replies() {
        let mut c = Cluster::new(1, &[]);
        connect(&mut c, C1, S1);
        connect(&mut c, C2, S1);
        ok(&mut c, C2, S1, 1, create("/a", CreateMode::Persistent));
        ok(&mut c, C1, S1, 1, get("/a", true));
        let exists = ClientOp::Exists {
            path: "/b".into(),
            watch: true,
        };
        ok(&mut c, C1, S1, 2, exists);
        let children = ClientOp::GetChildren {
            path: "/".into(),
            watch: true,
        };
        ok(&mut c, C1, S1, 3, children);

        let (z, _) = call(&mut c, C2, S1, 2, set("/a", 2));
        assert_eq!(c.take(C1), vec![event(EventType::NodeDataChanged, "/a", z)]);
        ok(&mut c, C2, S1, 3, set("/a", 3));
        assert!(c.take(C1).is_empty(), "a watch fires once");

        let (z, _) = call(&mut c, C2, S1, 4, create("/b", CreateMode::Persistent));
        assert_eq!(
            c.take(C1),
            vec![
                event(EventType::NodeCreated, "/b", z),
                event(EventType::NodeChildrenChanged, "/", z)
            ]
        );
        // The client's own write: the event comes before the write's reply.
        ok(&mut c, C1, S1, 4, get("/b", true));
        let delete = ClientOp::Delete {
            path: "/b".into(),
            version: -1,
        };
        c.send(
            C1,
            S1,
            Message::ClientRequest {
                cxid: 5,
                op: delete,
            },
        );
        let got = c.take(C1);
        assert!(
            matches!(
                got.as_slice(),
                [
                    Message::WatcherEvent(WatchedEvent {
                        kind: EventType::NodeDeleted,
                        ..
                    }),
                    Message::ClientReply {
                        cxid: 5,
                        result: Ok(Reply::Deleted),
                        ..
                    }
                ]
            ),
            "{got:?}"
        );
    }

    #[test]
    fn set_watches_catch_up_on_missed_changes() {
        let mut c = Cluster::new(1, &[]);
        let s = connect(&mut c, C1, S1);
        connect(&mut c, C2, S1);
        for (i, p) in ["/a", "/d", "/u"].iter().enumerate() {
            ok(&mut c, C2, S1, i as u64, create(p, CreateMode::Persistent));
        }
        let seen = c.server(S1).last_processed_zxid();
        let (za, _) = call(&mut c, C2, S1, 10, set("/a", 9));
        ok(
            &mut c,
            C2,
            S1,
            11,
            ClientOp::Delete {
                path: "/d".into(),
                version: -1,
            },
        );
        let (ze, _) = call(&mut c, C2, S1, 12, create("/e", CreateMode::Persistent));
        let last = c.server(S1).last_processed_zxid();

        // C1 comes back on a new connection with the watches it had.
        let reconnect = Message::Connect {
            session: s,
            last_zxid_seen: seen,
            timeout_ms: 4000,
        };
        c.send(C1, S1, reconnect);
        assert_eq!(
            c.take(C1),
            vec![Message::ConnectResponse {
                session: s,
                timeout_ms: 2000
            }]
        );
        let set_watches = Message::SetWatches {
            relative_zxid: seen,
            data: vec!["/a".into(), "/d".into(), "/u".into()],
            exist: vec!["/e".into(), "/g".into()],
            child: vec!["/d".into(), "/u".into()],
        };
        c.send(C1, S1, set_watches);
        assert_eq!(
            c.take(C1),
            vec![
                event(EventType::NodeDataChanged, "/a", za),
                event(EventType::NodeDeleted, "/d", last),
                event(EventType::NodeCreated, "/e", ze),
                event(EventType::NodeDeleted, "/d", last),
            ]
        );
        // The rest were registered and fire on the next change.
        let (zg, _) = call(&mut c, C2, S1, 13, create("/g", CreateMode::Persistent));
        let (zu, _) = call(&mut c, C2, S1, 14, create("/u/x", CreateMode::Persistent));
        let (zu2, _) = call(&mut c, C2, S1, 15, set("/u", 4));
        assert_eq!(
            c.take(C1),
            vec![
                event(EventType::NodeCreated, "/g", zg),
                event(EventType::NodeChildrenChanged, "/u", zu),
                event(EventType::NodeDataChanged, "/u", zu2),
            ]
        );
    }

    #[test]
    fn a_client_that_has_seen_a_newer_zxid_is_refused() {
        let mut c = Cluster::new(1, &[]);
        let s = connect(&mut c, C1, S1);
        let msg = Message::Connect {
            session: s,
            last_zxid_seen: Zxid::new(99, 1),
            timeout_ms: 4000,
        };
        c.send(C1, S1, msg);
        assert!(c.take(C1).is_empty(), "no answer at all");
        assert_eq!(c.closed.last(), Some(&(S1, C1)));
        assert_eq!(c.server(S1).client_session(C1), None);
    }

    #[test]
    fn close_session_removes_its_ephemerals_and_its_connection() {
        let mut c = Cluster::new(1, &[]);
        let s = connect(&mut c, C1, S1);
        connect(&mut c, C2, S1);
        ok(&mut c, C1, S1, 1, create("/e", CreateMode::Ephemeral));
        ok(&mut c, C2, S1, 1, create("/p", CreateMode::Persistent));
        let exists = ClientOp::Exists {
            path: "/e".into(),
            watch: true,
        };
        ok(&mut c, C2, S1, 2, exists);
        assert_eq!(
            c.server(S1).tree().ephemerals_of(s).collect::<Vec<_>>(),
            vec!["/e"]
        );
        let (z, r) = call(&mut c, C1, S1, 2, ClientOp::CloseSession);
        assert_eq!(r, Ok(Reply::Closed));
        assert_eq!(c.closed.last(), Some(&(S1, C1)));
        let tree = c.server(S1).tree();
        assert!(!tree.exists("/e") && tree.exists("/p"));
        assert!(!tree.has_session(s));
        assert_eq!(c.take(C2), vec![event(EventType::NodeDeleted, "/e", z)]);
    }

    #[test]
    fn sync_at_the_leader_is_answered_after_earlier_proposals() {
        let mut c = Cluster::new(1, &[]);
        connect(&mut c, C1, S1);
        let write = create("/a", CreateMode::Persistent);
        c.deliver(C1, S1, Message::ClientRequest { cxid: 1, op: write });
        let sync = ClientOp::Sync { path: "/".into() };
        c.deliver(C1, S1, Message::ClientRequest { cxid: 2, op: sync });
        assert!(
            c.take(C1).is_empty(),
            "the sync waits for the create to commit"
        );
        c.flush();
        let got = c.take(C1);
        let z = c.server(S1).last_processed_zxid();
        assert_eq!(
            got,
            vec![
                Message::ClientReply {
                    cxid: 1,
                    zxid: z,
                    result: Ok(Reply::Created { path: "/a".into() })
                },
                Message::ClientReply {
                    cxid: 2,
                    zxid: z,
                    result: Ok(Reply::Synced)
                },
            ]
        );
    }

    #[test]
    fn a_request_before_connect_closes_the_connection() {
        let mut c = Cluster::new(1, &[]);
        c.send(
            C1,
            S1,
            Message::ClientRequest {
                cxid: 1,
                op: get("/", false),
            },
        );
        assert!(c.take(C1).is_empty());
        assert_eq!(c.closed, vec![(S1, C1)]);
    }
}
