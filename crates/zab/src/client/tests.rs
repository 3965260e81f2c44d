//! The client against a scripted server: each test plays the server's part by hand, feeding
//! the client its answers and checking what the client sends, reports and schedules.

use super::*;
use crate::client_api::{
    ClientEvent, ClientOp, CreateMode, EventType, KeeperError, OpResult, RecipeEvent, Reply,
    SessionId, Stat, WatchedEvent,
};
use crate::ids::{ClientId, ServerId, Zxid};
use crate::message::Message;
use crate::timers::TimerName;

const MS: u64 = 1000;
const S1: ServerId = ServerId(1);
const S2: ServerId = ServerId(2);
const S3: ServerId = ServerId(3);
const SESSION: SessionId = SessionId(0x101);
/// Read timeout 2000 ms, ping interval 1000 ms, connect timeout 1000 ms with three servers.
const TIMEOUT_MS: u32 = 3000;

fn settings(workload: Workload, ops: u32, index: u32) -> ProgramSettings {
    ProgramSettings {
        workload,
        ops,
        write_ratio: 0.5,
        think_ms: (10, 20),
        index,
        count: 3,
    }
}

struct Harness {
    client: Client,
    now: u64,
    out: ClientOutputs,
    zxid: u64,
}

impl Harness {
    fn new(program: ProgramSettings) -> (Harness, Vec<ClientOutput>) {
        let cfg = ClientConfig {
            id: ClientId(1),
            servers: vec![S1, S2, S3],
            session_timeout_ms: TIMEOUT_MS,
            seed: 7,
            program,
        };
        let mut out = ClientOutputs::new();
        let client = Client::new(cfg, 0, &mut out);
        let mut h = Harness {
            client,
            now: 0,
            out,
            zxid: 0x1_0000_0000,
        };
        let first = h.take();
        (h, first)
    }

    /// A kv client with no budget: its program stays idle, so the test drives all ops.
    fn idle() -> (Harness, Vec<ClientOutput>) {
        Harness::new(settings(Workload::Kv, 0, 1))
    }

    fn take(&mut self) -> Vec<ClientOutput> {
        std::mem::take(&mut self.out.items)
    }

    fn step(&mut self, input: ClientInput) -> Vec<ClientOutput> {
        self.client.step(self.now, input, &mut self.out);
        self.take()
    }

    fn recv(&mut self, from: ServerId, msg: Message) -> Vec<ClientOutput> {
        self.step(ClientInput::Receive { from, msg })
    }

    fn connect(&mut self, from: ServerId) -> Vec<ClientOutput> {
        self.recv(
            from,
            Message::ConnectResponse {
                session: SESSION,
                timeout_ms: TIMEOUT_MS,
            },
        )
    }

    /// Moves time to a pending timer's deadline and steps the client with the timeout: that
    /// timer fires, after any due earlier.
    fn fire(&mut self, timer: ClientTimer) -> Vec<ClientOutput> {
        let at = self.client.timer(timer).expect("timer is pending");
        self.now = self.now.max(at);
        self.step(ClientInput::Timeout)
    }

    fn submit(&mut self, op: ClientOp) -> (u64, Vec<ClientOutput>) {
        let n = self.client.submit(self.now, op, &mut self.out);
        (n, self.take())
    }

    fn answer(&mut self, from: ServerId, cxid: u64, result: OpResult) -> Vec<ClientOutput> {
        self.zxid += 1;
        let zxid = Zxid(self.zxid);
        self.recv(from, Message::ClientReply { cxid, zxid, result })
    }

    fn drop_connection(&mut self, server: ServerId) -> Vec<ClientOutput> {
        self.step(ClientInput::Disconnected { server })
    }

    /// Loses the connection and connects the same session to the next server.
    fn fail_over(&mut self, from: ServerId, to: ServerId) -> Vec<ClientOutput> {
        let mut outs = self.drop_connection(from);
        outs.extend(self.fire(ClientTimer::Reconnect));
        outs.extend(self.connect(to));
        outs
    }
}

fn sent(outs: &[ClientOutput]) -> Vec<(ServerId, Message)> {
    outs.iter()
        .filter_map(|o| match o {
            ClientOutput::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn requests(outs: &[ClientOutput]) -> Vec<(u64, ClientOp)> {
    sent(outs)
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::ClientRequest { cxid, op } => Some((cxid, op)),
            _ => None,
        })
        .collect()
}

/// The one request a step sent.
fn only_request(outs: &[ClientOutput]) -> (u64, ClientOp) {
    let reqs = requests(outs);
    assert_eq!(reqs.len(), 1, "expected one request in {outs:?}");
    reqs.into_iter().next().unwrap()
}

fn events(outs: &[ClientOutput]) -> Vec<ClientEvent> {
    outs.iter()
        .filter_map(|o| match o {
            ClientOutput::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn recipe(outs: &[ClientOutput]) -> Vec<RecipeEvent> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Recipe(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn answered(outs: &[ClientOutput]) -> Vec<(u64, Option<Zxid>, OpResult)> {
    events(outs)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Answered {
                op, zxid, result, ..
            } => Some((op, zxid, result)),
            _ => None,
        })
        .collect()
}

fn get(path: &str, watch: bool) -> ClientOp {
    ClientOp::GetData {
        path: path.into(),
        watch,
    }
}

/// A getData answer whose znode holds `d` at data version `d` (what a publisher that
/// counts from 1 on a fresh znode produces).
fn data(d: u64) -> OpResult {
    Ok(Reply::Data {
        data: d,
        stat: Stat {
            version: i32::try_from(d).expect("small"),
            ..Stat::default()
        },
    })
}

fn created(path: &str) -> OpResult {
    Ok(Reply::Created { path: path.into() })
}

fn children(names: &[&str]) -> OpResult {
    Ok(Reply::Children {
        children: names.iter().map(|s| s.to_string()).collect(),
    })
}

fn exists(stat: Option<Stat>) -> OpResult {
    Ok(Reply::Exists { stat })
}

fn fired(kind: EventType, path: &str, zxid: u64) -> Message {
    Message::WatcherEvent(WatchedEvent {
        kind,
        path: path.into(),
        zxid: Zxid(zxid),
    })
}

// ---- connection ----

#[test]
fn connect_string_is_tried_in_order_and_connect_response_establishes_the_session() {
    let (mut h, first) = Harness::idle();
    assert_eq!(events(&first), vec![ClientEvent::Connecting { server: S1 }]);
    assert_eq!(
        sent(&first),
        vec![(
            S1,
            Message::Connect {
                session: SessionId::NONE,
                last_zxid_seen: Zxid(0),
                timeout_ms: TIMEOUT_MS
            }
        )]
    );
    assert_eq!(h.client.timer(ClientTimer::ConnectTimeout), Some(1000 * MS));

    h.now = 100 * MS;
    let outs = h.connect(S1);
    assert!(events(&outs).contains(&ClientEvent::Connected {
        session: SESSION,
        server: S1,
        timeout_ms: TIMEOUT_MS
    }));
    assert_eq!(h.client.timer(ClientTimer::ConnectTimeout), None);
    assert_eq!(h.client.timer(ClientTimer::ReadTimeout), Some(2100 * MS));
    assert_eq!(h.client.timer(ClientTimer::Ping), Some(1100 * MS));
    assert!(
        sent(&outs).is_empty(),
        "no watches to re-register, nothing queued"
    );
    assert_eq!((h.client.session(), h.client.server()), (SESSION, Some(S1)));
    assert!(h.client.is_connected());
}

#[test]
fn silence_for_two_thirds_of_the_timeout_disconnects_and_the_next_server_follows_a_backoff() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    // A ping answer at 1.5 s pushes the deadline: the timer firing at 2 s re-arms.
    h.now = 1500 * MS;
    h.recv(S1, Message::ClientPing);
    let early = h.fire(ClientTimer::ReadTimeout);
    assert!(events(&early).is_empty());
    assert_eq!(h.client.timer(ClientTimer::ReadTimeout), Some(3500 * MS));

    let outs = h.fire(ClientTimer::ReadTimeout);
    assert_eq!(h.now, 3500 * MS);
    assert!(outs.contains(&ClientOutput::Close { to: S1 }));
    assert!(events(&outs).contains(&ClientEvent::Disconnected { server: S1 }));
    let at = h.client.timer(ClientTimer::Reconnect).unwrap();
    assert!(
        (3500 * MS..4500 * MS).contains(&at),
        "backoff under a second: {at}"
    );
    assert!(!h.client.is_connected());
    assert_eq!(h.client.server(), Some(S2));

    let outs = h.fire(ClientTimer::Reconnect);
    assert_eq!(events(&outs), vec![ClientEvent::Connecting { server: S2 }]);
    assert!(matches!(
        &sent(&outs)[..],
        [(
            S2,
            Message::Connect {
                session: SESSION,
                ..
            }
        )]
    ));
}

#[test]
fn an_idle_connection_pings_at_a_third_of_the_timeout_and_traffic_defers_the_ping() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    let outs = h.fire(ClientTimer::Ping);
    assert_eq!(h.now, 1000 * MS);
    assert_eq!(sent(&outs), vec![(S1, Message::ClientPing)]);
    assert_eq!(h.client.timer(ClientTimer::Ping), Some(2000 * MS));

    h.now = 1500 * MS;
    h.submit(get("/a", false));
    // The server answered the 1 s ping just now, so the read timeout moves on too.
    h.recv(S1, Message::ClientPing);
    let outs = h.fire(ClientTimer::Ping);
    assert!(sent(&outs).is_empty(), "a request went out 500 ms ago");
    assert_eq!(h.client.timer(ClientTimer::Ping), Some(2500 * MS));
}

#[test]
fn requests_are_pipelined_in_cxid_order_and_fail_with_connection_loss_when_the_connection_breaks() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    let mut cxids = Vec::new();
    for (i, path) in ["/a", "/b", "/c"].iter().enumerate() {
        let (op, outs) = h.submit(get(path, false));
        assert_eq!(op, i as u64 + 1);
        let (cxid, req) = only_request(&outs);
        assert_eq!(req, get(path, false));
        assert!(events(&outs).contains(&ClientEvent::Submitted {
            op,
            cxid,
            server: S1,
            request: get(path, false)
        }));
        cxids.push(cxid);
    }
    assert!(cxids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(h.client.outstanding(), 3);

    let outs = h.answer(S1, cxids[0], data(5));
    assert_eq!(answered(&outs), vec![(1, Some(Zxid(h.zxid)), data(5))]);

    let outs = h.drop_connection(S1);
    assert!(
        !outs.contains(&ClientOutput::Close { to: S1 }),
        "already broken"
    );
    let loss = Err(KeeperError::ConnectionLoss);
    assert_eq!(
        answered(&outs),
        vec![(2, None, loss.clone()), (3, None, loss)]
    );
    assert_eq!(h.client.outstanding(), 0);
}

#[test]
fn a_reply_out_of_cxid_order_drops_the_connection() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    let (_, a) = h.submit(get("/a", false));
    let (_, b) = h.submit(get("/b", false));
    let (_, second) = (only_request(&a), only_request(&b).0);
    let outs = h.answer(S1, second, data(1));
    assert!(outs.contains(&ClientOutput::Close { to: S1 }));
    assert!(events(&outs).contains(&ClientEvent::Disconnected { server: S1 }));
    let results: Vec<OpResult> = answered(&outs).into_iter().map(|a| a.2).collect();
    assert_eq!(results, vec![Err(KeeperError::ConnectionLoss); 2]);
}

#[test]
fn ops_submitted_while_disconnected_wait_for_the_next_connection() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    h.drop_connection(S1);
    let (op, outs) = h.submit(get("/a", false));
    assert!(requests(&outs).is_empty());
    assert!(matches!(
        &events(&outs)[..],
        [ClientEvent::Submitted { server: S2, .. }]
    ));
    assert_eq!(h.client.outstanding(), 1);
    h.fire(ClientTimer::Reconnect);
    let outs = h.connect(S2);
    let (cxid, req) = only_request(&outs);
    assert_eq!(req, get("/a", false));
    let outs = h.answer(S2, cxid, data(1));
    assert_eq!(answered(&outs)[0].0, op);

    // Queued behind a connection attempt that fails, an op fails with it, as ClientCnxn's
    // cleanup fails its outgoing queue.
    h.drop_connection(S2);
    h.submit(get("/b", false));
    h.fire(ClientTimer::Reconnect);
    let outs = h.fire(ClientTimer::ConnectTimeout);
    assert!(outs.contains(&ClientOutput::Close { to: S3 }));
    assert_eq!(answered(&outs)[0].2, Err(KeeperError::ConnectionLoss));
}

#[test]
fn connect_attempts_time_out_and_a_whole_failed_round_adds_the_spin_delay() {
    let (mut h, _) = Harness::idle();
    let mut pauses = Vec::new();
    for server in [S1, S2, S3] {
        let outs = h.fire(ClientTimer::ConnectTimeout);
        assert!(events(&outs).contains(&ClientEvent::Disconnected { server }));
        let at = h.client.timer(ClientTimer::Reconnect).unwrap();
        pauses.push(at - h.now);
        h.fire(ClientTimer::Reconnect);
    }
    assert!(pauses[0] < 1000 * MS && pauses[1] < 1000 * MS, "{pauses:?}");
    assert!((1000 * MS..2000 * MS).contains(&pauses[2]), "{pauses:?}");
    assert_eq!(h.client.server(), Some(S1));
}

#[test]
fn messages_from_a_server_it_left_are_ignored() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    let (_, outs) = h.submit(get("/a", false));
    let (cxid, _) = only_request(&outs);
    h.fail_over(S1, S2);
    let outs = h.answer(S1, cxid, data(1));
    assert!(outs.is_empty());
    assert!(h.client.is_connected());
}

#[test]
fn unfired_watches_are_re_registered_with_set_watches_after_a_reconnect() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    let ops = [
        (get("/a", true), data(1)),
        (
            ClientOp::Exists {
                path: "/b".into(),
                watch: true,
            },
            exists(None),
        ),
        (
            ClientOp::GetChildren {
                path: "/c".into(),
                watch: true,
            },
            children(&[]),
        ),
        (get("/d", true), data(2)),
        (get("/e", false), data(3)),
    ];
    for (op, result) in ops {
        let (_, outs) = h.submit(op);
        let (cxid, _) = only_request(&outs);
        h.answer(S1, cxid, result);
    }
    let outs = h.recv(S1, fired(EventType::NodeDataChanged, "/d", 0x1_0000_0100));
    assert!(events(&outs).contains(&ClientEvent::Watch {
        event: WatchedEvent {
            kind: EventType::NodeDataChanged,
            path: "/d".into(),
            zxid: Zxid(0x1_0000_0100)
        },
        server: S1
    }));
    // Only replies move lastZxid (ClientCnxn.readResponse); the notification's newer zxid
    // does not.
    let last_reply = Zxid(h.zxid);
    assert!(last_reply < Zxid(0x1_0000_0100));
    h.drop_connection(S1);
    let outs = h.fire(ClientTimer::Reconnect);
    assert!(matches!(
        &sent(&outs)[..],
        [(
            S2,
            Message::Connect {
                last_zxid_seen,
                ..
            }
        )] if *last_zxid_seen == last_reply
    ));
    let outs = h.connect(S2);
    assert_eq!(
        sent(&outs),
        vec![(
            S2,
            Message::SetWatches {
                relative_zxid: last_reply,
                data: vec!["/a".into()],
                exist: vec!["/b".into()],
                child: vec!["/c".into()],
            }
        )]
    );
}

#[test]
fn an_expired_session_fails_everything_and_stops_the_client() {
    let (mut h, _) = Harness::idle();
    h.connect(S1);
    h.drop_connection(S1);
    h.submit(get("/a", false));
    h.fire(ClientTimer::Reconnect);
    let outs = h.recv(
        S2,
        Message::ConnectResponse {
            session: SESSION,
            timeout_ms: 0,
        },
    );
    assert!(outs.contains(&ClientOutput::Close { to: S2 }));
    assert!(events(&outs).contains(&ClientEvent::Expired { session: SESSION }));
    assert_eq!(answered(&outs)[0].2, Err(KeeperError::SessionExpired));
    assert_eq!(h.client.server(), None);
    assert_eq!(h.client.outstanding(), 0);

    let (_, outs) = h.submit(get("/b", false));
    assert!(requests(&outs).is_empty());
    assert_eq!(answered(&outs)[0].2, Err(KeeperError::SessionExpired));
    assert!(ClientTimer::ALL
        .iter()
        .all(|t| *t == ClientTimer::Program || h.client.timer(*t).is_none()));
}

// ---- recipes ----

/// Connects and answers the recipe's parent creates; returns the next step's outputs.
fn set_up(h: &mut Harness, parents: &[&str]) -> Vec<ClientOutput> {
    let outs = h.connect(S1);
    let reqs = requests(&outs);
    let paths: Vec<String> = reqs
        .iter()
        .map(|(_, op)| op.path().unwrap().to_string())
        .collect();
    assert_eq!(paths, parents);
    let mut last = Vec::new();
    for (i, (cxid, _)) in reqs.into_iter().enumerate() {
        let result = if i == 0 {
            Err(KeeperError::NodeExists)
        } else {
            created(parents[i])
        };
        last = h.answer(S1, cxid, result);
    }
    last
}

const DIR: &str = "/app/leader_election";
const OURS: &str = "guid-101-n_0000000002";

fn election_created(h: &mut Harness) -> u64 {
    let outs = set_up(h, &["/app", DIR]);
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::Create {
            path: format!("{DIR}/guid-101-n_").into(),
            data: 0,
            mode: CreateMode::EphemeralSequential
        }
    );
    cxid
}

fn czxid_stat(czxid: u64) -> Stat {
    Stat {
        czxid: Zxid(czxid),
        ..Stat::default()
    }
}

/// Drives an election client to leadership as the only contender; returns its token.
fn elect(h: &mut Harness) -> Zxid {
    let cxid = election_created(h);
    let outs = h.answer(S1, cxid, created(&format!("{DIR}/{OURS}")));
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S1, cxid, children(&[OURS]));
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S1, cxid, exists(Some(czxid_stat(0x1_0000_0007))));
    assert_eq!(
        recipe(&outs),
        vec![RecipeEvent::Leading {
            path: format!("{DIR}/{OURS}").into(),
            token: Zxid(0x1_0000_0007)
        }]
    );
    Zxid(0x1_0000_0007)
}

#[test]
fn election_re_evaluates_when_the_predecessor_vanishes_between_get_children_and_exists() {
    let (mut h, _) = Harness::new(settings(Workload::Election, 1, 1));
    let cxid = election_created(&mut h);
    let outs = h.answer(S1, cxid, created(&format!("{DIR}/{OURS}")));
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::GetChildren {
            path: DIR.into(),
            watch: false
        }
    );
    let outs = h.answer(
        S1,
        cxid,
        children(&[OURS, "guid-aa-n_0000000000", "guid-bb-n_0000000001"]),
    );
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::Exists {
            path: format!("{DIR}/guid-bb-n_0000000001").into(),
            watch: true
        }
    );
    // Gone before the exists arrived: list again at once instead of waiting on nothing.
    let outs = h.answer(S1, cxid, exists(None));
    let (cxid, op) = only_request(&outs);
    assert!(matches!(op, ClientOp::GetChildren { .. }));
    let outs = h.answer(S1, cxid, children(&["guid-aa-n_0000000000", OURS]));
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op.path().map(|p| p.as_str()),
        Some(&*format!("{DIR}/guid-aa-n_0000000000"))
    );
    let outs = h.answer(S1, cxid, exists(Some(czxid_stat(1))));
    assert!(requests(&outs).is_empty() && recipe(&outs).is_empty());

    let outs = h.recv(
        S1,
        fired(
            EventType::NodeDeleted,
            &format!("{DIR}/guid-aa-n_0000000000"),
            9,
        ),
    );
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S1, cxid, children(&[OURS]));
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::Exists {
            path: format!("{DIR}/{OURS}").into(),
            watch: false
        }
    );
    let token = Zxid(0x1_0000_0003);
    let outs = h.answer(S1, cxid, exists(Some(czxid_stat(token.0))));
    assert_eq!(
        recipe(&outs),
        vec![RecipeEvent::Leading {
            path: format!("{DIR}/{OURS}").into(),
            token
        }]
    );

    // A term: a use per think interval, then resign (belief first, znode second).
    let mut uses = Vec::new();
    for _ in 0..TERM_USES {
        uses.extend(h.fire(ClientTimer::Program));
    }
    let mut expected = vec![RecipeEvent::UseResource { token }; TERM_USES as usize];
    expected.push(RecipeEvent::NotLeading);
    assert_eq!(recipe(&uses), expected);
    let (cxid, op) = only_request(&uses);
    assert_eq!(
        op,
        ClientOp::Delete {
            path: format!("{DIR}/{OURS}").into(),
            version: -1
        }
    );
    let outs = h.answer(S1, cxid, Ok(Reply::Deleted));
    assert!(requests(&outs).is_empty(), "budget of one term is spent");
    assert!(h.client.finished());
}

#[test]
fn after_connection_loss_during_create_the_election_finds_its_node_by_guid() {
    let (mut h, _) = Harness::new(settings(Workload::Election, 1, 1));
    election_created(&mut h);
    let outs = h.drop_connection(S1);
    assert_eq!(answered(&outs)[0].2, Err(KeeperError::ConnectionLoss));
    assert!(
        requests(&outs).is_empty(),
        "no blind retry while disconnected"
    );
    h.fire(ClientTimer::Reconnect);
    let outs = h.connect(S2);
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::GetChildren {
            path: DIR.into(),
            watch: false
        }
    );
    // The create did happen: its znode is there, under our GUID.
    let outs = h.answer(
        S2,
        cxid,
        children(&[
            "guid-1010-n_0000000004",
            "guid-101-n_0000000005",
            "guid-ff-n_0000000003",
        ]),
    );
    let (_, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::Exists {
            path: format!("{DIR}/guid-1010-n_0000000004").into(),
            watch: true
        },
        "no second create, and guid-1010 is another session's: it waits behind it"
    );
}

#[test]
fn after_connection_loss_during_create_the_election_creates_when_its_guid_is_absent() {
    let (mut h, _) = Harness::new(settings(Workload::Election, 1, 1));
    election_created(&mut h);
    h.drop_connection(S1);
    h.fire(ClientTimer::Reconnect);
    let outs = h.connect(S2);
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S2, cxid, children(&["guid-1010-n_0000000004"]));
    let (_, op) = only_request(&outs);
    assert!(matches!(
        op,
        ClientOp::Create {
            mode: CreateMode::EphemeralSequential,
            ..
        }
    ));
}

#[test]
fn an_election_leader_steps_down_on_disconnect_and_on_expiry_stops() {
    let (mut h, _) = Harness::new(settings(Workload::Election, 5, 1));
    let token = elect(&mut h);
    let outs = h.drop_connection(S1);
    assert_eq!(recipe(&outs), vec![RecipeEvent::NotLeading]);
    assert_eq!(h.client.timer(ClientTimer::Program), None);

    // Reconnected with the session intact: it checks again and leads again.
    h.fire(ClientTimer::Reconnect);
    let outs = h.connect(S2);
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S2, cxid, children(&[OURS]));
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S2, cxid, exists(Some(czxid_stat(token.0))));
    assert!(matches!(&recipe(&outs)[..], [RecipeEvent::Leading { .. }]));

    // A pause past the session timeout: the expiry is learnt on the reconnect.
    h.drop_connection(S2);
    h.fire(ClientTimer::Reconnect);
    let outs = h.recv(
        S3,
        Message::ConnectResponse {
            session: SESSION,
            timeout_ms: 0,
        },
    );
    assert!(
        recipe(&outs).is_empty(),
        "it stopped believing at the disconnect"
    );
    assert!(h.client.finished());
}

#[test]
fn a_leader_paused_past_its_session_uses_the_resource_before_it_notices_the_silence() {
    let (mut h, _) = Harness::new(settings(Workload::Election, 5, 1));
    let token = elect(&mut h);
    // A 10 s pause (longer than the 3 s session): on waking, the think timer, due before the
    // read timeout, fires first, and the client still believes it leads when it uses the
    // resource. Only then does the read timeout tell it the connection is dead. This is the
    // window fencing closes.
    let think = h.client.timer(ClientTimer::Program).expect("thinking");
    let read = h.client.timer(ClientTimer::ReadTimeout).expect("connected");
    assert!(think < read, "{think} < {read}");
    h.now = 10_000 * MS;
    let outs = h.step(ClientInput::Timeout);
    assert!(events(&outs).contains(&ClientEvent::Disconnected { server: S1 }));
    assert_eq!(
        recipe(&outs),
        vec![RecipeEvent::UseResource { token }, RecipeEvent::NotLeading]
    );
}

#[test]
fn a_lock_holder_releases_on_disconnect_and_reacquires_its_own_node_after_reconnect() {
    let (mut h, _) = Harness::new(settings(Workload::Lock, 3, 1));
    let outs = set_up(&mut h, &["/app", "/app/lock"]);
    let (cxid, op) = only_request(&outs);
    assert_eq!(op.path().map(|p| p.as_str()), Some("/app/lock/x-101-"));
    let outs = h.answer(S1, cxid, created("/app/lock/x-101-0000000000"));
    let (cxid, _) = only_request(&outs);
    let mut log = h.answer(S1, cxid, children(&["x-101-0000000000"]));
    log.extend(h.drop_connection(S1));
    h.fire(ClientTimer::Reconnect);
    let outs = h.connect(S2);
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S2, cxid, children(&["x-101-0000000000"]));
    assert!(
        requests(&outs).is_empty(),
        "no create, no fencing read for the lock"
    );
    log.extend(outs);
    let acquired = RecipeEvent::LockAcquired {
        path: "/app/lock/x-101-0000000000".into(),
    };
    assert_eq!(
        recipe(&log),
        vec![acquired.clone(), RecipeEvent::LockReleased, acquired]
    );

    // Holding ends with the release reported before the delete goes out.
    let outs = h.fire(ClientTimer::Program);
    assert_eq!(recipe(&outs), vec![RecipeEvent::LockReleased]);
    let (_, op) = only_request(&outs);
    assert!(matches!(op, ClientOp::Delete { .. }));
}

#[test]
fn ids_come_from_the_sequence_suffix_and_never_from_a_lost_create() {
    let (mut h, _) = Harness::new(settings(Workload::Ids, 3, 1));
    let outs = set_up(&mut h, &["/app", "/app/ids"]);
    assert!(requests(&outs).is_empty(), "thinks first");
    let outs = h.fire(ClientTimer::Program);
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::Create {
            path: "/app/ids/id-".into(),
            data: 0,
            mode: CreateMode::PersistentSequential
        }
    );
    let outs = h.answer(S1, cxid, created("/app/ids/id-0000000042"));
    assert_eq!(recipe(&outs), vec![RecipeEvent::IdAssigned { id: 42 }]);

    let outs = h.fire(ClientTimer::Program);
    only_request(&outs);
    let outs = h.drop_connection(S1);
    assert!(recipe(&outs).is_empty());
    h.fire(ClientTimer::Reconnect);
    h.connect(S2);
    let outs = h.fire(ClientTimer::Program);
    let (cxid, _) = only_request(&outs);
    let outs = h.answer(S2, cxid, created("/app/ids/id-0000000044"));
    assert_eq!(recipe(&outs), vec![RecipeEvent::IdAssigned { id: 44 }]);
    assert!(h.client.finished(), "three requests: the budget");
}

#[test]
fn a_consumer_takes_the_smallest_item_and_moves_on_when_another_consumer_won_it() {
    let (mut h, _) = Harness::new(settings(Workload::Queue, 5, 2));
    set_up(&mut h, &["/app", "/app/queue"]);
    let outs = h.fire(ClientTimer::Program);
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op,
        ClientOp::GetChildren {
            path: "/app/queue".into(),
            watch: true
        }
    );
    let outs = h.answer(S1, cxid, children(&["item-0000000002", "item-0000000001"]));
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op.path().map(|p| p.as_str()),
        Some("/app/queue/item-0000000001")
    );
    let outs = h.answer(S1, cxid, Err(KeeperError::NoNode));
    assert!(recipe(&outs).is_empty());
    let (cxid, op) = only_request(&outs);
    assert_eq!(
        op.path().map(|p| p.as_str()),
        Some("/app/queue/item-0000000002")
    );
    let outs = h.answer(S1, cxid, Ok(Reply::Deleted));
    assert_eq!(
        recipe(&outs),
        vec![RecipeEvent::Consumed {
            item: "/app/queue/item-0000000002".into()
        }]
    );
}

#[test]
fn a_producer_reports_the_item_path_the_server_assigned() {
    let (mut h, _) = Harness::new(settings(Workload::Queue, 1, 1));
    set_up(&mut h, &["/app", "/app/queue"]);
    let outs = h.fire(ClientTimer::Program);
    let (cxid, op) = only_request(&outs);
    assert!(matches!(
        op,
        ClientOp::Create {
            mode: CreateMode::PersistentSequential,
            ..
        }
    ));
    let outs = h.answer(S1, cxid, created("/app/queue/item-0000000007"));
    assert_eq!(
        recipe(&outs),
        vec![RecipeEvent::Produced {
            item: "/app/queue/item-0000000007".into()
        }]
    );
    assert!(h.client.finished());
}

#[test]
fn a_config_subscriber_rereads_with_a_new_watch_on_each_change() {
    let (mut h, _) = Harness::new(settings(Workload::Config, 10, 2));
    let outs = h.connect(S1);
    let (cxid, op) = only_request(&outs);
    assert_eq!(op, get("/app/config", true));
    let outs = h.answer(S1, cxid, data(3));
    assert_eq!(recipe(&outs), vec![RecipeEvent::ConfigSeen { version: 3 }]);
    let outs = h.recv(
        S1,
        fired(EventType::NodeDataChanged, "/app/config", 0x1_0000_0050),
    );
    let (cxid, op) = only_request(&outs);
    assert_eq!(op, get("/app/config", true));
    let outs = h.answer(S1, cxid, data(4));
    assert_eq!(recipe(&outs), vec![RecipeEvent::ConfigSeen { version: 4 }]);
}

#[test]
fn the_config_publisher_writes_increasing_versions() {
    let (mut h, _) = Harness::new(settings(Workload::Config, 2, 1));
    set_up(&mut h, &["/app", "/app/config"]);
    for version in 1..=2 {
        let outs = h.fire(ClientTimer::Program);
        let (cxid, op) = only_request(&outs);
        assert_eq!(
            op,
            ClientOp::SetData {
                path: "/app/config".into(),
                data: version,
                version: -1
            }
        );
        h.answer(
            S1,
            cxid,
            Ok(Reply::SetData {
                stat: Stat::default(),
            }),
        );
    }
    assert!(h.client.finished());
}

/// Plays a server that answers every kv request at once (writes to missing keys fail once
/// with NoNode), and returns the requests each step sent.
fn run_kv(write_ratio: f64, ops: u32) -> (Harness, Vec<Vec<ClientOp>>) {
    let mut s = settings(Workload::Kv, ops, 1);
    s.write_ratio = write_ratio;
    let (mut h, _) = Harness::new(s);
    h.connect(S1);
    let mut known = std::collections::BTreeSet::new();
    let mut steps = Vec::new();
    while h.client.timer(ClientTimer::Program).is_some() {
        let mut queue = requests(&h.fire(ClientTimer::Program));
        steps.push(queue.iter().map(|(_, op)| op.clone()).collect());
        while let Some((cxid, op)) = (!queue.is_empty()).then(|| queue.remove(0)) {
            let result = match &op {
                ClientOp::SetData { path, .. } if !known.contains(path) => Err(KeeperError::NoNode),
                ClientOp::SetData { .. } => Ok(Reply::SetData {
                    stat: Stat::default(),
                }),
                ClientOp::Create { path, .. } => {
                    known.insert(path.clone());
                    created(path)
                }
                _ => data(0),
            };
            queue.extend(requests(&h.answer(S1, cxid, result)));
        }
    }
    (h, steps)
}

#[test]
fn kv_pipelines_some_writes_with_a_read_of_the_same_key_and_stops_at_its_budget() {
    let (h, steps) = run_kv(1.0, 200);
    let pipelined = steps
        .iter()
        .filter(|s| {
            matches!(&s[..], [ClientOp::SetData { path: w, .. }, ClientOp::GetData { path: r, .. }] if w == r)
        })
        .count();
    let lone = steps.iter().filter(|s| s.len() == 1).count();
    assert!(
        pipelined > 10 && lone > pipelined,
        "{pipelined} pipelined, {lone} alone"
    );
    let issued: usize = steps.iter().map(Vec::len).sum();
    assert_eq!(issued, 200);
    assert!(h.client.finished());
    // Every write carries a value unique to the client and the write.
    let values: Vec<u64> = steps
        .iter()
        .flatten()
        .filter_map(|op| match op {
            ClientOp::SetData { data, .. } => Some(*data),
            _ => None,
        })
        .collect();
    let distinct: std::collections::BTreeSet<_> = values.iter().collect();
    assert_eq!(distinct.len(), values.len());
}

#[test]
fn kv_creates_a_missing_key_with_the_value_it_meant_to_write() {
    let (mut h, _) = Harness::new(settings(Workload::Kv, 50, 1));
    h.connect(S1);
    loop {
        let outs = h.fire(ClientTimer::Program);
        let reqs = requests(&outs);
        let Some((cxid, ClientOp::SetData { path, data, .. })) = reqs.first().cloned() else {
            for (cxid, _) in reqs {
                h.answer(S1, cxid, data(0));
            }
            continue;
        };
        let outs = h.answer(S1, cxid, Err(KeeperError::NoNode));
        let (_, op) = only_request(&outs);
        assert_eq!(
            op,
            ClientOp::Create {
                path,
                data,
                mode: CreateMode::Persistent
            }
        );
        break;
    }
}

#[test]
fn workload_names_round_trip() {
    for w in Workload::ALL {
        assert_eq!(Workload::from_name(w.name()), Some(w));
    }
    assert_eq!(Workload::from_name("nope"), None);
}
