//! The client library: ZooKeeper's `ClientCnxn` (connection, heartbeats, the request
//! pipeline, failover) and the `ZooKeeper` handle's watch bookkeeping, as a sans-IO state
//! machine with the application [`Program`] on top.
//!
//! Timing follows ClientCnxn: the read timeout is 2/3 of the negotiated session timeout, a
//! ping goes out when nothing was sent for half of that (a third of the session timeout), a
//! CONNECT must be answered within the session timeout divided by the number of servers, and
//! every reconnect waits a random 0..1000 ms, plus a second once a whole round of servers has
//! failed (StaticHostProvider's spin delay).

use super::app::{Action, Ctx, Notice, ProgramSettings};
use super::io::{ClientInput, ClientOutputs, ClientTimer};
use super::program::Program;
use super::watches::Watches;
use crate::client_api::{ClientEvent, ClientOp, KeeperError, OpResult, SessionId, WatchedEvent};
use crate::ids::{ClientId, ServerId, Zxid};
use crate::message::Message;
use crate::timers::Timers;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// How a client is set up.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub id: ClientId,
    /// The connect string, in the order the client tries servers: the driver shuffles it once,
    /// as StaticHostProvider does; the client then walks it round-robin.
    pub servers: Vec<ServerId>,
    pub session_timeout_ms: u32,
    /// Seeds the client's own ChaCha stream (reconnect backoff, workload choices).
    pub seed: u64,
    pub program: ProgramSettings,
}

/// Where the connection stands (ClientCnxn's `States`, minus what the model does not need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting out the pause before trying the next server.
    Backoff,
    /// CONNECT sent, no answer yet.
    Connecting,
    Connected,
    /// The session expired: the client is done with it.
    Closed,
}

/// A request with its numbers: `op` for the application, `cxid` on the wire.
#[derive(Clone, Debug)]
struct Packet {
    op: u64,
    cxid: u64,
    request: ClientOp,
}

/// A ZooKeeper client process: the library and the application program.
///
/// Replies must come back in cxid order, as ZooKeeper's single TCP connection guarantees. A
/// reply for any other cxid (or when nothing is pending) means the server broke the protocol;
/// ClientCnxn throws an IOException ("Xid out of order") and so drops the connection, and so
/// does this client: every pending op fails with ConnectionLoss and it moves to the next server.
#[derive(Clone, Debug)]
pub struct Client {
    id: ClientId,
    servers: Vec<ServerId>,
    requested_timeout_ms: u32,
    rng: ChaCha8Rng,
    state: State,
    /// StaticHostProvider's currentIndex: the server connected to, being connected to, or
    /// next to try.
    current: usize,
    /// StaticHostProvider's lastIndex: the server of the last successful connection (the
    /// first one tried before any). Coming back to it means a whole round failed.
    last_index: usize,
    session: SessionId,
    negotiated_timeout_ms: u32,
    /// The newest zxid seen in a reply or a watch event, sent with CONNECT so that no server
    /// that is behind what this client has seen accepts it, and with SetWatches.
    last_zxid_seen: Zxid,
    next_cxid: u64,
    next_op: u64,
    /// Sent and awaiting a reply, in cxid order.
    pending: VecDeque<Packet>,
    /// Submitted while not connected: sent once a connection is established, or failed with
    /// ConnectionLoss if the attempt fails (ClientCnxn's outgoingQueue is cleaned up with the
    /// pending queue on every failed connection).
    outgoing: VecDeque<Packet>,
    watches: Watches,
    last_recv_us: u64,
    last_send_us: u64,
    program: Program,
    /// Notices for the program, delivered at the end of the step.
    notices: VecDeque<Notice>,
    /// The client's named deadlines; its driver asks only for [`Client::next_deadline`].
    timers: Timers<ClientTimer>,
}

impl Client {
    /// A client that starts connecting to the first server of its connect string at once.
    pub fn new(cfg: ClientConfig, now_us: u64, out: &mut ClientOutputs) -> Client {
        assert!(
            !cfg.servers.is_empty(),
            "a client needs at least one server"
        );
        let mut client = Client {
            id: cfg.id,
            servers: cfg.servers,
            requested_timeout_ms: cfg.session_timeout_ms,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            state: State::Backoff,
            current: 0,
            last_index: 0,
            session: SessionId::NONE,
            negotiated_timeout_ms: 0,
            last_zxid_seen: Zxid(0),
            next_cxid: 1,
            next_op: 1,
            pending: VecDeque::new(),
            outgoing: VecDeque::new(),
            watches: Watches::default(),
            last_recv_us: now_us,
            last_send_us: now_us,
            program: Program::new(&cfg.program),
            notices: VecDeque::new(),
            timers: Timers::default(),
        };
        client.start_connect(now_us, out);
        client
    }

    pub fn step(&mut self, now_us: u64, input: ClientInput, out: &mut ClientOutputs) {
        match input {
            ClientInput::Receive { from, msg } => {
                if self.live_server() == Some(from) {
                    self.receive(now_us, msg, out);
                }
            }
            ClientInput::Disconnected { server } => {
                if self.live_server() == Some(server) {
                    self.connection_lost(now_us, false, out);
                }
            }
            ClientInput::Timeout => {
                // Each due timer is handled as its own step, as if its deadline had been a
                // separate event: the program runs after each, and a timer armed meanwhile
                // waits for the next timeout.
                for (at, timer) in self.timers.due(now_us) {
                    if self.timers.expire(timer, at) {
                        self.on_timer(now_us, timer, out);
                        self.run_program(now_us, out);
                    }
                }
                return;
            }
        }
        self.run_program(now_us, out);
    }

    /// When the client next needs [`ClientInput::Timeout`]: its earliest armed timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next_deadline()
    }

    /// The deadline `timer` is armed for, if it is.
    pub fn timer(&self, timer: ClientTimer) -> Option<u64> {
        self.timers.get(timer)
    }

    /// Issues an operation on behalf of the application, outside its program (tests and
    /// scripted clients). The program does not hear of its answer.
    pub fn submit(&mut self, now_us: u64, request: ClientOp, out: &mut ClientOutputs) -> u64 {
        let op = self.next_op;
        self.next_op += 1;
        self.send_or_queue(now_us, op, request, out);
        self.run_program(now_us, out);
        op
    }

    pub fn id(&self) -> ClientId {
        self.id
    }

    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The server it is connected to, connecting to, or about to try after its backoff;
    /// `None` once the session has expired.
    pub fn server(&self) -> Option<ServerId> {
        (self.state != State::Closed).then(|| self.servers[self.current])
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    pub fn last_zxid_seen(&self) -> Zxid {
        self.last_zxid_seen
    }

    /// Operations submitted and not yet answered (for the progress check).
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.outgoing.len()
    }

    /// The program has finished its budget (or lost its session) and nothing is outstanding.
    pub fn finished(&self) -> bool {
        self.program.done() && self.outstanding() == 0
    }

    /// The server whose connection is up or being set up, whose messages count.
    fn live_server(&self) -> Option<ServerId> {
        matches!(self.state, State::Connecting | State::Connected)
            .then(|| self.servers[self.current])
    }

    fn timeout_ms(&self) -> u32 {
        if self.negotiated_timeout_ms > 0 {
            self.negotiated_timeout_ms
        } else {
            self.requested_timeout_ms
        }
    }

    fn read_timeout_us(&self) -> u64 {
        u64::from(self.timeout_ms()) * 2 / 3 * 1000
    }

    fn ping_interval_us(&self) -> u64 {
        u64::from(self.timeout_ms()) * 2 / 3 / 2 * 1000
    }

    fn connect_timeout_us(&self) -> u64 {
        (u64::from(self.timeout_ms()) / self.servers.len() as u64).max(1) * 1000
    }

    fn start_connect(&mut self, now_us: u64, out: &mut ClientOutputs) {
        let server = self.servers[self.current];
        self.state = State::Connecting;
        self.last_recv_us = now_us;
        self.last_send_us = now_us;
        out.event(ClientEvent::Connecting { server });
        out.send(
            server,
            Message::Connect {
                session: self.session,
                last_zxid_seen: self.last_zxid_seen,
                timeout_ms: self.requested_timeout_ms,
            },
        );
        self.timers.set(
            ClientTimer::ConnectTimeout,
            now_us + self.connect_timeout_us(),
        );
    }

    fn receive(&mut self, now_us: u64, msg: Message, out: &mut ClientOutputs) {
        self.last_recv_us = now_us;
        match (self.state, msg) {
            (
                State::Connecting,
                Message::ConnectResponse {
                    session,
                    timeout_ms,
                },
            ) => {
                if timeout_ms == 0 {
                    self.expire(out);
                } else {
                    self.connected(now_us, session, timeout_ms, out);
                }
            }
            (State::Connected, Message::ClientReply { cxid, zxid, result }) => {
                self.reply(now_us, cxid, zxid, result, out)
            }
            (State::Connected, Message::WatcherEvent(event)) => self.watch_fired(event, out),
            // Ping answers only show the server is alive, which `last_recv_us` already holds.
            _ => {}
        }
    }

    fn connected(
        &mut self,
        now_us: u64,
        session: SessionId,
        timeout_ms: u32,
        out: &mut ClientOutputs,
    ) {
        let server = self.servers[self.current];
        self.state = State::Connected;
        self.session = session;
        self.negotiated_timeout_ms = timeout_ms;
        self.last_index = self.current;
        self.timers.cancel(ClientTimer::ConnectTimeout);
        out.event(ClientEvent::Connected {
            session,
            server,
            timeout_ms,
        });
        // Watches first, so that the server has re-armed them (and fired those already due)
        // before it answers anything queued meanwhile.
        if !self.watches.is_empty() {
            out.send(
                server,
                Message::SetWatches {
                    relative_zxid: self.last_zxid_seen,
                    data: self.watches.data.iter().cloned().collect(),
                    exist: self.watches.exist.iter().cloned().collect(),
                    child: self.watches.child.iter().cloned().collect(),
                },
            );
        }
        while let Some(p) = self.outgoing.pop_front() {
            out.send(
                server,
                Message::ClientRequest {
                    cxid: p.cxid,
                    op: p.request.clone(),
                },
            );
            self.pending.push_back(p);
        }
        self.last_send_us = now_us;
        self.timers
            .set(ClientTimer::ReadTimeout, now_us + self.read_timeout_us());
        self.timers
            .set(ClientTimer::Ping, now_us + self.ping_interval_us());
        self.notices.push_back(Notice::Connected);
    }

    fn reply(
        &mut self,
        now_us: u64,
        cxid: u64,
        zxid: Zxid,
        result: OpResult,
        out: &mut ClientOutputs,
    ) {
        if self.pending.front().map(|p| p.cxid) != Some(cxid) {
            self.connection_lost(now_us, true, out);
            return;
        }
        let p = self.pending.pop_front().expect("checked above");
        // ClientCnxn.SendThread.readResponse (ClientCnxn.java:955-957 at 3.8.0, 956-958 at
        // 3.9.4): `if (replyHdr.getZxid() > 0) lastZxid = replyHdr.getZxid()`, for every reply,
        // errors included.
        if zxid.0 > 0 {
            self.last_zxid_seen = zxid;
        }
        self.watches.register(&p.request, &result);
        out.event(ClientEvent::Answered {
            op: p.op,
            cxid,
            zxid: Some(zxid),
            result: result.clone(),
        });
        self.notices.push_back(Notice::Answer { op: p.op, result });
    }

    /// Every firing is reported (the checkers hold the server to its ordering promise); the
    /// program hears only of firings that match a watch it armed, since a watch fires once.
    fn watch_fired(&mut self, event: WatchedEvent, out: &mut ClientOutputs) {
        let server = self.servers[self.current];
        // A notification (xid -1) never moves lastZxid (ClientCnxn.java:895-903 at 3.8.0,
        // 902-918 at 3.9.4): only replies do.
        let armed = self.watches.trigger(&event);
        out.event(ClientEvent::Watch {
            event: event.clone(),
            server,
        });
        if armed {
            self.notices.push_back(Notice::Watch(event));
        }
    }

    /// The connection is gone: tell everyone, fail what was in flight, and schedule the next
    /// server. `close` is false when the driver already reported the connection broken.
    fn connection_lost(&mut self, now_us: u64, close: bool, out: &mut ClientOutputs) {
        let server = self.servers[self.current];
        if close {
            out.close(server);
        }
        out.event(ClientEvent::Disconnected { server });
        self.timers.cancel(ClientTimer::ConnectTimeout);
        self.timers.cancel(ClientTimer::ReadTimeout);
        self.timers.cancel(ClientTimer::Ping);
        // Move on before failing ops, so that anything the program resubmits is queued for the
        // server it will go to.
        self.current = (self.current + 1) % self.servers.len();
        let mut pause_ms: u64 = self.rng.gen_range(0..1000);
        if self.current == self.last_index {
            pause_ms += 1000;
        }
        self.state = State::Backoff;
        self.timers
            .set(ClientTimer::Reconnect, now_us + pause_ms * 1000);
        self.fail_all(KeeperError::ConnectionLoss, out);
        self.notices.push_back(Notice::Disconnected);
    }

    fn expire(&mut self, out: &mut ClientOutputs) {
        let server = self.servers[self.current];
        out.close(server);
        for t in [
            ClientTimer::ConnectTimeout,
            ClientTimer::ReadTimeout,
            ClientTimer::Ping,
            ClientTimer::Reconnect,
        ] {
            self.timers.cancel(t);
        }
        out.event(ClientEvent::Expired {
            session: self.session,
        });
        self.state = State::Closed;
        self.watches.clear();
        self.fail_all(KeeperError::SessionExpired, out);
        self.notices.push_back(Notice::Expired);
    }

    fn fail_all(&mut self, err: KeeperError, out: &mut ClientOutputs) {
        let failed: Vec<Packet> = self
            .pending
            .drain(..)
            .chain(self.outgoing.drain(..))
            .collect();
        for p in failed {
            self.fail(p, err, out);
        }
    }

    fn fail(&mut self, p: Packet, err: KeeperError, out: &mut ClientOutputs) {
        out.event(ClientEvent::Answered {
            op: p.op,
            cxid: p.cxid,
            zxid: None,
            result: Err(err),
        });
        self.notices.push_back(Notice::Answer {
            op: p.op,
            result: Err(err),
        });
    }

    fn on_timer(&mut self, now_us: u64, timer: ClientTimer, out: &mut ClientOutputs) {
        match (timer, self.state) {
            (ClientTimer::Reconnect, State::Backoff) => self.start_connect(now_us, out),
            (ClientTimer::ConnectTimeout, State::Connecting) => {
                let deadline = self.last_recv_us + self.connect_timeout_us();
                if now_us >= deadline {
                    self.connection_lost(now_us, true, out);
                } else {
                    self.timers.set(ClientTimer::ConnectTimeout, deadline);
                }
            }
            (ClientTimer::ReadTimeout, State::Connected) => {
                let deadline = self.last_recv_us + self.read_timeout_us();
                if now_us >= deadline {
                    self.connection_lost(now_us, true, out);
                } else {
                    self.timers.set(ClientTimer::ReadTimeout, deadline);
                }
            }
            (ClientTimer::Ping, State::Connected) => {
                let deadline = self.last_send_us + self.ping_interval_us();
                if now_us >= deadline {
                    out.send(self.servers[self.current], Message::ClientPing);
                    self.last_send_us = now_us;
                    self.timers
                        .set(ClientTimer::Ping, now_us + self.ping_interval_us());
                } else {
                    self.timers.set(ClientTimer::Ping, deadline);
                }
            }
            (ClientTimer::Program, _) => self.notices.push_back(Notice::Timer),
            // A connection timer that outlived the state it was set in.
            _ => {}
        }
    }

    /// Numbers a request and sends it, or queues it until a connection is up. `Submitted`
    /// goes out at once: the application issued the op now, and a queued op can only ever be
    /// sent to the server named (if that attempt fails, so does the op).
    fn send_or_queue(&mut self, now_us: u64, op: u64, request: ClientOp, out: &mut ClientOutputs) {
        let cxid = self.next_cxid;
        self.next_cxid += 1;
        let server = self.servers[self.current];
        out.event(ClientEvent::Submitted {
            op,
            cxid,
            server,
            request: request.clone(),
        });
        let p = Packet { op, cxid, request };
        match self.state {
            State::Connected => {
                out.send(
                    server,
                    Message::ClientRequest {
                        cxid,
                        op: p.request.clone(),
                    },
                );
                self.last_send_us = now_us;
                self.pending.push_back(p);
            }
            State::Connecting | State::Backoff => self.outgoing.push_back(p),
            State::Closed => self.fail(p, KeeperError::SessionExpired, out),
        }
    }

    /// Hands the step's notices to the program, and any its actions cause (an op submitted
    /// after expiry fails at once), until none are left.
    fn run_program(&mut self, now_us: u64, out: &mut ClientOutputs) {
        while let Some(notice) = self.notices.pop_front() {
            let connected = self.state == State::Connected;
            let mut ctx = Ctx::new(now_us, self.session, connected, &mut self.rng, self.next_op);
            self.program.on(notice, &mut ctx);
            let (next_op, actions) = ctx.finish();
            self.next_op = next_op;
            for action in actions {
                match action {
                    Action::Submit(op, request) => self.send_or_queue(now_us, op, request, out),
                    Action::Recipe(event) => out.event(ClientEvent::Recipe(event)),
                    Action::SetTimer(at_us) => self.timers.set(ClientTimer::Program, at_us),
                    Action::CancelTimer => self.timers.cancel(ClientTimer::Program),
                }
            }
        }
    }
}
