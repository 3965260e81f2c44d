//! Hand-made real runs through the real-run path: the checkers must stay quiet on a good
//! history and fire on a lost acknowledged write.

use super::*;
use crate::conform::real::RealElection;
use conform::client_proxy::WireRecord;
use conform::{ClientRecord, ServerOutcome, Srvr, TimedEvent};
use zab::client_api::{ClientOp, Reply, Stat};

const SESSION: i64 = 0x100;
const T0: i64 = 1_000_000;

fn scenario() -> scenario::Scenario {
    scenario::parse(
        "name = \"t\"\n[cluster]\nservers = 1\n[run]\nduration_ms = 2000\nliveness_ms = 500\n[clients]\ncount = 1\n",
        std::path::Path::new("t.toml"),
    )
    .expect("a scenario")
}

fn z(counter: u64) -> Zxid {
    Zxid::new(1, counter)
}

fn record(zxid: Zxid, cxid: i32, body: TxnBody, t_ms: i64) -> TxnRecord {
    TxnRecord {
        zxid: zxid.0 as i64,
        txn_type: match body {
            TxnBody::CreateSession { .. } => -10,
            TxnBody::SetData { .. } => 5,
            TxnBody::Create { .. } => 15,
            _ => -1,
        },
        client_id: SESSION,
        cxid,
        time_ms: T0 + t_ms,
        body,
    }
}

fn set_data(path: &str, data: u64) -> TxnBody {
    TxnBody::SetData {
        path: path.into(),
        data: data.to_string().into_bytes(),
        version: 1,
    }
}

fn wire(time_ms: f64, frame: Frame) -> WireRecord {
    WireRecord {
        time_ms,
        client: 1,
        server: 1,
        conn: 1,
        frame,
    }
}

fn ev(time_ms: f64, event: ClientEvent) -> TimedEvent {
    TimedEvent { time_ms, event }
}

/// One server leading epoch 1; client c1 writes /a = 7, acknowledged at zxid 1:2; the server's
/// log holds `log`.
fn run(log: Vec<TxnRecord>) -> RealRun {
    let session = SessionId(SESSION as u64);
    let clients = vec![ClientRecord {
        client: 1,
        servers: vec![1],
        started_ms: 10.0,
        sessions: vec![SESSION],
        events: vec![
            ev(
                20.0,
                ClientEvent::Connecting {
                    server: ServerId(1),
                },
            ),
            ev(
                20.0,
                ClientEvent::Connected {
                    session,
                    server: ServerId(1),
                    timeout_ms: 2000,
                },
            ),
            ev(
                30.0,
                ClientEvent::Submitted {
                    op: 1,
                    cxid: 1,
                    server: ServerId(1),
                    request: ClientOp::SetData {
                        path: "/a".into(),
                        data: 7,
                        version: -1,
                    },
                },
            ),
            ev(
                41.0,
                ClientEvent::Answered {
                    op: 1,
                    cxid: 1,
                    zxid: Some(z(2)),
                    result: Ok(Reply::SetData {
                        stat: Stat::default(),
                    }),
                },
            ),
        ],
        connects: Vec::new(),
        expired: false,
        finished: true,
        problems: Vec::new(),
    }];
    let wire = vec![
        wire(
            19.0,
            Frame::ConnectResponse {
                session: SESSION,
                timeout_ms: 2000,
            },
        ),
        wire(
            31.0,
            Frame::Request {
                xid: 1,
                op: 5,
                path: Some("/a".into()),
            },
        ),
        wire(
            40.0,
            Frame::Reply {
                xid: 1,
                zxid: z(2).0 as i64,
                err: 0,
            },
        ),
    ];
    let server = ServerOutcome {
        id: 1,
        running: true,
        srvr: Some(Srvr {
            serving: true,
            mode: Some(Mode::Standalone),
            zxid: log.last().map(|t| t.zxid),
            raw: String::new(),
        }),
        accepted_epoch: Some(1),
        current_epoch: Some(1),
        txns: log,
        txn_error: None,
        snapshots: vec![0],
    };
    RealRun {
        leader: Some(1),
        epoch: 1,
        elections: vec![RealElection {
            epoch: 1,
            leader: 1,
            started_ms: 0.0,
            established_ms: 5.0,
        }],
        clients,
        wire,
        servers: [(1, server)].into_iter().collect(),
        wall_ms: 2000.0,
        t0_unix_ms: T0,
        ..RealRun::default()
    }
}

fn judged(log: Vec<TxnRecord>) -> Judged {
    judge(&run(log), &scenario(), zab::ZkVersion::V3_8_0)
}

fn create_session() -> TxnRecord {
    record(z(1), 0, TxnBody::CreateSession { timeout_ms: 2000 }, 19)
}

#[test]
fn a_history_that_keeps_the_acknowledged_write_passes() {
    let j = judged(vec![
        create_session(),
        record(z(2), 1, set_data("/a", 7), 35),
    ]);
    assert!(j.violations.is_empty(), "{:#?}", j.violations);
    assert!(j.notes.is_empty(), "{:?}", j.notes);
}

#[test]
fn another_txn_at_the_acknowledged_zxid_is_a_lost_write() {
    // The server's log holds someone else's write at 1:2.
    let mut other = record(z(2), 9, set_data("/b", 1), 35);
    other.client_id = 0x200;
    let j = judged(vec![create_session(), other]);
    let v: Vec<_> = j.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(v, ["linearizable-writes"], "{:#?}", j.violations);
    assert!(
        j.violations[0]
            .message
            .contains("the acknowledged write is lost"),
        "{}",
        j.violations[0].message
    );
}

#[test]
fn a_history_that_passes_over_the_acknowledged_zxid_lost_it() {
    let j = judged(vec![
        create_session(),
        record(z(3), 2, set_data("/c", 2), 35),
    ]);
    let v: Vec<_> = j.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(v, ["linearizable-writes"], "{:#?}", j.violations);
    assert!(
        j.violations[0]
            .message
            .contains("passed that zxid without it"),
        "{}",
        j.violations[0].message
    );
}

#[test]
fn a_reply_that_goes_back_in_zxid_breaks_session_order() {
    let mut r = run(vec![
        create_session(),
        record(z(2), 1, set_data("/a", 7), 35),
    ]);
    // A read after the write, answered at an older zxid.
    let c = &mut r.clients[0];
    c.events.push(ev(
        50.0,
        ClientEvent::Submitted {
            op: 2,
            cxid: 2,
            server: ServerId(1),
            request: ClientOp::GetData {
                path: "/a".into(),
                watch: false,
            },
        },
    ));
    c.events.push(ev(
        61.0,
        ClientEvent::Answered {
            op: 2,
            cxid: 2,
            zxid: Some(z(1)),
            result: Ok(Reply::Data {
                data: 7,
                stat: Stat::default(),
            }),
        },
    ));
    r.wire.push(wire(
        60.0,
        Frame::Reply {
            xid: 2,
            zxid: z(1).0 as i64,
            err: 0,
        },
    ));
    let j = judge(&r, &scenario(), zab::ZkVersion::V3_8_0);
    let v: Vec<_> = j.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(v, ["session-order"], "{:#?}", j.violations);
}

#[test]
fn a_server_whose_history_came_in_a_snapshot_is_named_not_judged() {
    // A snapshot taken along the way leaves the log whole.
    let mut r = run(vec![
        create_session(),
        record(z(2), 1, set_data("/a", 7), 35),
    ]);
    r.servers.get_mut(&1).unwrap().snapshots = vec![0, z(1).0 as i64];
    let j = judge(&r, &scenario(), zab::ZkVersion::V3_8_0);
    assert!(j.violations.is_empty() && j.notes.is_empty(), "{j:#?}");
    // A snapshot at a txn the log does not hold brought history the log lacks.
    r.servers.get_mut(&1).unwrap().snapshots = vec![0, z(5).0 as i64];
    let j = judge(&r, &scenario(), zab::ZkVersion::V3_8_0);
    assert!(j.violations.is_empty(), "{:#?}", j.violations);
    assert!(
        j.notes
            .iter()
            .any(|n| n.contains("does not hold its whole history")),
        "{:?}",
        j.notes
    );
}

#[test]
fn a_scenario_initial_txn_reads_back_as_one_and_a_failed_request_does_not() {
    // What persistence writes for a `[[server]]` log's txn: `error 0`, no session.
    let initial = TxnRecord {
        client_id: 0,
        ..record(z(1), 0, TxnBody::Error { err: 0 }, 0)
    };
    assert_eq!(op_of(&initial), Some(TxnOp::Initial));
    // A client's failed request is an error txn of its session, with its code.
    let failed = record(z(2), 3, TxnBody::Error { err: -101 }, 5);
    assert_eq!(
        op_of(&failed),
        Some(TxnOp::Error {
            err: KeeperError::NoNode
        })
    );
}
