//! The kv workload's real clients against a real ZooKeeper 3.8.0. Skipped (loudly) when java
//! or ZooKeeper is missing, unless ZABSIM_REQUIRE_ZK=1. The cases run one at a time (cargo
//! runs test binaries one after another, and this binary serializes its own cases).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conform::client::SessionEventKind;
use conform::txnlog::TxnRecord;
use conform::{
    processes_mentioning, run_kv, ClientRecord, Ensemble, EnsembleSpec, Install, KvSpec, Mode,
    OpKind, OpResult, Srvr,
};

const WAIT: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn install() -> Option<Install> {
    match Install::debian() {
        Ok(i) => Some(i),
        Err(e) => {
            if std::env::var("ZABSIM_REQUIRE_ZK").as_deref() == Ok("1") {
                panic!("ZABSIM_REQUIRE_ZK=1 but ZooKeeper cannot run: {e}");
            }
            // Straight to stderr, past the test harness's capture: the skip must show.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("SKIPPED: {e}\n").as_bytes(),
            );
            None
        }
    }
}

fn mode(st: &BTreeMap<u64, Option<Srvr>>, id: u64) -> Option<Mode> {
    st.get(&id)?.as_ref().filter(|s| s.serving)?.mode
}

/// Starts 1..=3 and waits until 3 leads and 1 and 2 follow.
fn three_servers(install: Install) -> Ensemble {
    let e = Ensemble::start(install, EnsembleSpec::new([1, 2, 3])).unwrap();
    if let Err(err) = e.wait_for(WAIT, |st| {
        mode(st, 3) == Some(Mode::Leader)
            && [1, 2].iter().all(|f| mode(st, *f) == Some(Mode::Follower))
    }) {
        e.keep_run_dir();
        panic!("{err}; logs kept in {}", e.run_dir().display());
    }
    e
}

fn finish(e: Ensemble) {
    let dir = e.run_dir().to_path_buf();
    drop(e);
    let left = processes_mentioning(&dir);
    assert!(left.is_empty(), "processes left running: {left:?}");
}

/// Every transaction any server logged, by zxid.
fn all_txns(e: &Ensemble) -> BTreeMap<i64, TxnRecord> {
    let mut txns = BTreeMap::new();
    for id in e.spec().all_ids() {
        for t in e.txn_log(id).unwrap() {
            txns.insert(t.zxid, t);
        }
    }
    txns
}

/// The zxids of a client's successful writes and creates, in the order sent.
fn write_zxids(c: &ClientRecord) -> Vec<i64> {
    c.ops
        .iter()
        .filter(|o| !matches!(o.kind, OpKind::Read { .. }))
        .filter_map(|o| match o.result {
            OpResult::Ok { zxid, .. } => Some(zxid.expect("a write's zxid")),
            _ => None,
        })
        .collect()
}

fn is_write_txn(t: &TxnRecord) -> bool {
    matches!(t.txn_type, 1 | 5 | 15)
}

#[test]
fn two_clients_write_and_the_logs_hold_their_writes() {
    let Some(install) = install() else { return };
    let _g = serial();
    let e = three_servers(install);
    let spec = KvSpec {
        keep_sessions: false,
        clients: 2,
        ops: 20,
        write_ratio: 1.0,
        think_ms: (10, 40),
        session_timeout_ms: 2000,
        seed: 11,
    };
    let t0 = Instant::now();
    let run = run_kv(&e.client_addrs(), &spec, Duration::from_secs(20), t0);
    eprintln!("kv run took {:?}", t0.elapsed());
    let txns = all_txns(&e);
    assert_eq!(run.clients.len(), 2);
    for c in &run.clients {
        let ops: Vec<String> = c
            .ops
            .iter()
            .map(|o| {
                let what = match &o.kind {
                    OpKind::Read { path } => format!("r{path}"),
                    OpKind::Write { path, .. } => format!("w{path}"),
                    OpKind::Create { path, .. } => format!("c{path}"),
                };
                let how = match &o.result {
                    OpResult::Ok { zxid, .. } => format!("{:#x}", zxid.unwrap_or(0)),
                    OpResult::Err(e) => e.clone(),
                    OpResult::Unknown(e) => format!("?{e}"),
                };
                format!("{what}@{:?}:{how}", o.server)
            })
            .collect();
        eprintln!("client {} via {:?}: {}", c.client, c.servers, ops.join(" "));
    }
    for c in &run.clients {
        let report = format!("{c:#?}");
        assert!(c.finished && !c.expired, "{report}");
        let session = c.session_id.expect("a session");
        // Every request was answered, and each logical write ended in exactly one success: a
        // write refused with NoNode was followed by a create, a create refused with
        // NodeExists by a write.
        for (i, op) in c.ops.iter().enumerate() {
            assert!(
                op.completed_ms.is_some(),
                "op {} unanswered: {report}",
                op.op
            );
            assert!(op.server.is_some(), "op {} has no server: {report}", op.op);
            match (&op.kind, &op.result) {
                (_, OpResult::Ok { .. }) => {}
                (OpKind::Read { .. }, OpResult::Err(e)) if e == "NoNode" && op.pipelined => {}
                (OpKind::Write { path, data }, OpResult::Err(e)) if e == "NoNode" => {
                    let next = c.ops[i + 1..].iter().find(|o| !o.pipelined).unwrap();
                    assert_eq!(
                        next.kind,
                        OpKind::Create {
                            path: path.clone(),
                            data: *data
                        }
                    );
                }
                (OpKind::Create { path, data }, OpResult::Err(e)) if e == "NodeExists" => {
                    let next = c.ops[i + 1..].iter().find(|o| !o.pipelined).unwrap();
                    assert_eq!(
                        next.kind,
                        OpKind::Write {
                            path: path.clone(),
                            data: *data
                        }
                    );
                }
                other => panic!("unexpected {other:?}: {report}"),
            }
        }
        let budget = spec.ops_of(c.client);
        let pipelined = c.ops.iter().filter(|o| o.pipelined).count() as u32;
        let zxids = write_zxids(c);
        assert_eq!(zxids.len() as u32 + pipelined, budget, "{report}");
        assert!(zxids.windows(2).all(|w| w[0] < w[1]), "{zxids:x?}");
        // A pipelined read sees the write sent before it (or a later one), or no node when
        // that write found none.
        for (i, op) in c.ops.iter().enumerate().filter(|(_, o)| o.pipelined) {
            let write = &c.ops[i - 1];
            let OpKind::Write { data, .. } = &write.kind else {
                panic!("a pipelined read follows a write: {report}");
            };
            match (&write.result, &op.result) {
                (
                    OpResult::Ok { zxid: w, .. },
                    OpResult::Ok {
                        zxid: r,
                        read: Some(read),
                    },
                ) => {
                    assert!(r >= w, "{report}");
                    if r == w {
                        assert_eq!(read.data, Some(*data), "{report}");
                    }
                }
                (OpResult::Err(_), OpResult::Err(e)) if e == "NoNode" => {}
                (OpResult::Err(_), OpResult::Ok { .. }) => {}
                other => panic!("pipelined read {}: {other:?}: {report}", op.op),
            }
        }
        // The logs hold the session's creation and every write, under the session's id.
        assert!(
            txns.values()
                .any(|t| t.txn_type == -10 && t.client_id == session),
            "no createSession for {session:#x}"
        );
        for z in &zxids {
            let t = txns
                .get(z)
                .unwrap_or_else(|| panic!("zxid {z:#x} not logged"));
            assert!(is_write_txn(t) && t.client_id == session, "{t:?}");
        }
    }
    let a: BTreeSet<i64> = write_zxids(&run.clients[0]).into_iter().collect();
    let b: BTreeSet<i64> = write_zxids(&run.clients[1]).into_iter().collect();
    assert!(a.is_disjoint(&b));
    finish(e);
}

/// The server the only client is connected to, from `cons` (a connection with a session).
fn connected_server(e: &Ensemble) -> Option<u64> {
    e.client_addrs().into_iter().find_map(|(id, addr)| {
        let cons = conform::fourlw::send(addr, "cons", Duration::from_millis(500)).ok()?;
        cons.lines()
            .any(|l| l.contains("sid=0x") && !l.contains("sid=0x0,"))
            .then_some(id)
    })
}

#[test]
fn a_client_fails_over_when_its_server_is_killed_and_keeps_its_session() {
    let Some(install) = install() else { return };
    let _g = serial();
    failover(install, Victim::ClientsServer, 2000.0);
}

/// Ignored: racy by nature. After the leader's SIGKILL the two followers need about 1.5 s to
/// serve again (1 follows 2 before 2 leads, goes back to LOOKING, and retries), and the
/// library gives the session up by itself 2.8 s (7/5 of the 2 s maximum that tickTime 100
/// allows) after its last answer, trying servers with a doubling pause meanwhile: one run in
/// two or so, its last try falls just short and the client declares its session expired.
#[test]
#[ignore]
fn a_client_keeps_its_session_through_the_leaders_crash() {
    let Some(install) = install() else { return };
    let _g = serial();
    // The followers drop their clients and elect: the client is back once a server serves,
    // which must be before the library gives the session up (7/5 of its timeout).
    failover(install, Victim::Leader, 2800.0);
}

enum Victim {
    /// The server the client is connected to.
    ClientsServer,
    /// The leader (3), whichever server the client is on.
    Leader,
}

/// One client writes; `victim` is SIGKILLed mid-run; the client must be back on another
/// server within `within_ms` of the crash, on the same session, and finish.
fn failover(install: Install, victim: Victim, within_ms: f64) {
    let e = three_servers(install);
    let spec = KvSpec {
        keep_sessions: false,
        clients: 1,
        ops: 40,
        write_ratio: 1.0,
        think_ms: (40, 80),
        session_timeout_ms: 2000,
        seed: 5,
    };
    let addrs = e.client_addrs();
    let t0 = Instant::now();
    let run = std::thread::scope(|s| {
        let worker = s.spawn(|| run_kv(&addrs, &spec, Duration::from_secs(25), t0));
        let deadline = Instant::now() + Duration::from_secs(10);
        let on = loop {
            if let Some(id) = connected_server(&e) {
                break id;
            }
            assert!(Instant::now() < deadline, "the client never connected");
            std::thread::sleep(Duration::from_millis(50));
        };
        let victim = match victim {
            Victim::ClientsServer => on,
            Victim::Leader => 3,
        };
        std::thread::sleep(Duration::from_millis(800));
        let crashed_ms = t0.elapsed().as_secs_f64() * 1000.0;
        e.crash(victim).unwrap();
        (worker.join().unwrap(), victim, crashed_ms)
    });
    let (run, victim, crashed_ms) = run;
    eprintln!(
        "killed server {victim} at {crashed_ms:.0} ms; run took {:?}",
        t0.elapsed()
    );
    let c = &run.clients[0];
    let report = format!("{c:#?}");
    assert!(c.finished && !c.expired, "{report}");
    let session = c.session_id.unwrap();
    // One session: established once, resumed on another server within the session timeout.
    let new_sessions = c
        .connects
        .iter()
        .filter(|ev| ev.kind == SessionEventKind::NewSession)
        .count();
    assert_eq!(new_sessions, 1, "{report}");
    let connected: Vec<_> = c
        .connects
        .iter()
        .filter(|ev| ev.kind == SessionEventKind::Connected)
        .collect();
    let first = connected[0].server;
    let lost = c
        .connects
        .iter()
        .find(|ev| ev.kind == SessionEventKind::Disconnected && ev.time_ms >= crashed_ms)
        .unwrap_or_else(|| panic!("no disconnect after the crash: {report}"));
    let back = connected
        .iter()
        .find(|ev| ev.time_ms > lost.time_ms)
        .unwrap_or_else(|| panic!("no reconnect: {report}"));
    assert_ne!(back.server, Some(victim));
    assert!(back.server.is_some());
    assert!(
        back.time_ms - crashed_ms < within_ms,
        "reconnected {:.0} ms after the crash: {report}",
        back.time_ms - crashed_ms
    );
    eprintln!(
        "disconnected after {:.0} ms, reconnected to {:?} after {:.0} ms",
        lost.time_ms - crashed_ms,
        back.server,
        back.time_ms - crashed_ms
    );
    // Requests before the crash went to the first server, later ones to the new server, and
    // all completed but those the crash cut off.
    let after: Vec<_> = c
        .ops
        .iter()
        .filter(|o| o.invoked_ms > back.time_ms)
        .collect();
    assert!(!after.is_empty(), "{report}");
    for o in &after {
        assert!(
            matches!(o.result, OpResult::Ok { .. })
                || matches!(&o.result, OpResult::Err(e) if e == "NoNode" || e == "NodeExists"),
            "{report}"
        );
        assert_eq!(o.server, back.server, "{report}");
    }
    for o in c.ops.iter().filter(|o| o.invoked_ms < crashed_ms) {
        assert_eq!(o.server, first, "{report}");
    }
    assert!(c
        .ops
        .iter()
        .all(|o| !matches!(o.result, OpResult::Unknown(_)) || o.invoked_ms < back.time_ms));
    // The session's writes after the failover are logged under the same session id.
    let txns = all_txns(&e);
    for o in &after {
        if let (OpKind::Write { .. } | OpKind::Create { .. }, OpResult::Ok { zxid, .. }) =
            (&o.kind, &o.result)
        {
            let t = txns[&zxid.unwrap()];
            assert_eq!(t.client_id, session, "{t:?}");
        }
    }
    finish(e);
}
