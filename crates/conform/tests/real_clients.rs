//! The scenario workloads' real clients against a real ZooKeeper 3.8.0. Skipped (loudly) when java
//! or ZooKeeper is missing, unless ZABSIM_REQUIRE_ZK=1. The cases run one at a time (cargo
//! runs test binaries one after another, and this binary serializes its own cases).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use conform::txnlog::TxnRecord;
use conform::{
    processes_mentioning, run_clients, ClientRecord, ClientsRun, ClientsSpec, Ensemble,
    EnsembleSpec, Install, Mode, Srvr,
};
use zab::client::Workload;
use zab::client_api::{ClientEvent, RecipeEvent};

const WAIT: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn install() -> Option<Install> {
    Install::debian_or_skip("the real-client tests")
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

fn spec(workload: Workload, clients: u32, ops: u32, seed: u64) -> ClientsSpec {
    ClientsSpec {
        workload,
        clients,
        ops,
        write_ratio: 0.6,
        think_ms: (10, 40),
        session_timeout_ms: 2000,
        fencing: true,
        seed,
    }
}

fn run(e: &Ensemble, spec: &ClientsSpec, secs: u64) -> ClientsRun {
    let t0 = Instant::now();
    let running = run_clients(&e.client_addrs(), spec, Duration::from_secs(secs), t0).unwrap();
    running.join()
}

fn events(c: &ClientRecord) -> impl Iterator<Item = &ClientEvent> {
    c.events.iter().map(|e| &e.event)
}

fn recipe(c: &ClientRecord) -> Vec<&RecipeEvent> {
    events(c)
        .filter_map(|e| match e {
            ClientEvent::Recipe(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The requests' zxids and servers came off the wire: every successful write's zxid is a
/// logged txn of the client's session, every answer after a submit on the wire has a
/// reply-header zxid, and nothing on the wire contradicts what the program sent.
fn check_record(c: &ClientRecord, txns: &BTreeMap<i64, TxnRecord>) {
    let report = format!("{c:#?}");
    assert!(c.problems.is_empty(), "{report}");
    let session = *c.sessions.first().expect("a session");
    let mut writes = BTreeMap::new();
    for e in events(c) {
        match e {
            ClientEvent::Submitted {
                cxid,
                request,
                server,
                ..
            } => {
                assert_ne!(server.0, 0, "{report}");
                writes.insert(*cxid, request.is_write());
            }
            ClientEvent::Answered {
                cxid, zxid, result, ..
            } if result.is_ok() => {
                let z = zxid.unwrap_or_else(|| panic!("answer {cxid} without zxid: {report}"));
                if writes[cxid] {
                    let t = txns
                        .get(&(z.0 as i64))
                        .unwrap_or_else(|| panic!("zxid {z} not logged: {report}"));
                    assert_eq!((t.client_id, t.cxid as u64), (session, *cxid), "{report}");
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_workload_runs_on_real_clients() {
    let Some(install) = install() else { return };
    let _g = serial();
    let e = three_servers(install);
    for (i, w) in Workload::ALL.into_iter().enumerate() {
        let spec = spec(w, 3, 12, 40 + i as u64);
        let run = run(&e, &spec, 8);
        let txns = all_txns(&e);
        for c in &run.clients {
            let (submitted, ok) = c.op_counts();
            eprintln!(
                "{}: c{} session {:#x}: {submitted} submitted, {ok} ok, finished {}, recipe {:?}",
                w.name(),
                c.client,
                c.sessions[0],
                c.finished,
                recipe(c)
            );
            check_record(c, &txns);
            assert!(!c.expired, "{c:#?}");
            assert!(submitted > 0 && ok > 0, "{c:#?}");
        }
        let all: Vec<&RecipeEvent> = run.clients.iter().flat_map(recipe).collect();
        let has = |f: fn(&RecipeEvent) -> bool| all.iter().any(|r| f(r));
        match w {
            Workload::Kv => assert!(all.is_empty()),
            Workload::Election => assert!(has(|r| matches!(r, RecipeEvent::Leading { .. }))),
            Workload::Lock => assert!(has(|r| matches!(r, RecipeEvent::LockAcquired { .. }))),
            Workload::Queue => {
                assert!(has(|r| matches!(r, RecipeEvent::Produced { .. })));
                assert!(has(|r| matches!(r, RecipeEvent::Consumed { .. })));
            }
            Workload::Ids => {
                let ids: Vec<u64> = all
                    .iter()
                    .filter_map(|r| match r {
                        RecipeEvent::IdAssigned { id } => Some(*id),
                        _ => None,
                    })
                    .collect();
                let distinct: BTreeSet<u64> = ids.iter().copied().collect();
                assert!(!ids.is_empty() && distinct.len() == ids.len(), "{ids:?}");
            }
            Workload::Config => assert!(has(|r| matches!(r, RecipeEvent::ConfigSeen { .. }))),
        }
    }
    finish(e);
}

#[test]
fn a_crashed_client_leaves_its_session_to_expire_and_a_paused_one_stops() {
    let Some(install) = install() else { return };
    let _g = serial();
    let e = three_servers(install);
    let spec = spec(Workload::Election, 2, 40, 9);
    let t0 = Instant::now();
    let running = run_clients(&e.client_addrs(), &spec, Duration::from_secs(9), t0).unwrap();
    let control = running.control();
    // Leadership passes from term to term; wait for a moment when someone leads.
    let deadline = Instant::now() + Duration::from_secs(5);
    let leader = loop {
        if let Some(l) = control.recipe_leader() {
            break l;
        }
        assert!(Instant::now() < deadline, "no recipe leader within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    let other = 3 - leader;
    let crashed_ms = t0.elapsed().as_secs_f64() * 1000.0;
    assert!(control.crash(leader));
    std::thread::sleep(Duration::from_millis(4000));
    let paused_ms = t0.elapsed().as_secs_f64() * 1000.0;
    assert!(control.pause(other));
    std::thread::sleep(Duration::from_millis(500));
    assert!(control.resume(other));
    let run = running.join();
    let l = &run.clients[leader as usize - 1];
    let o = &run.clients[other as usize - 1];
    // The crashed client did nothing after its crash.
    let last = l.events.last().expect("events");
    assert!(
        matches!(last.event, ClientEvent::Crashed) && last.time_ms >= crashed_ms,
        "{l:#?}"
    );
    // The other client took over once the crashed one's session expired (2 s), not before,
    // if the crashed one still led when it crashed (a term lasts a few uses: it may have just
    // stepped down).
    let still_leading = matches!(
        l.events.iter().rev().find_map(|e| match &e.event {
            ClientEvent::Recipe(r @ (RecipeEvent::Leading { .. } | RecipeEvent::NotLeading)) =>
                Some(r),
            _ => None,
        }),
        Some(RecipeEvent::Leading { .. })
    );
    let leading_ms = o
        .events
        .iter()
        .find(|e| {
            e.time_ms > crashed_ms
                && matches!(e.event, ClientEvent::Recipe(RecipeEvent::Leading { .. }))
        })
        .map(|e| e.time_ms)
        .unwrap_or_else(|| panic!("the survivor never led: {o:#?}"));
    assert!(
        !still_leading || leading_ms > crashed_ms + 1500.0,
        "led {:.0} ms after the crash",
        leading_ms - crashed_ms
    );
    // The pause shows, and nothing happened in it. The client notices the command at its
    // next turn (within a few ms), so events may come between the call and `Paused`.
    let at = o
        .events
        .iter()
        .position(|e| e.time_ms >= paused_ms && matches!(e.event, ClientEvent::Paused))
        .unwrap_or_else(|| panic!("no pause after {paused_ms:.0} ms: {o:#?}"));
    let pause = &o.events[at..(at + 2).min(o.events.len())];
    assert!(
        matches!(
            pause.iter().map(|e| &e.event).collect::<Vec<_>>()[..],
            [ClientEvent::Paused, ClientEvent::Resumed]
        ) && pause[1].time_ms - pause[0].time_ms >= 450.0
            && pause[0].time_ms - paused_ms < 50.0,
        "{pause:#?}"
    );
    finish(e);
}
