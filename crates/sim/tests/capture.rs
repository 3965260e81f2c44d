//! `Options::capture`: the servers' durable disks at one moment of a run, as
//! `sim run --zk-data` writes them out.

mod common;

use common::watch;
use std::collections::BTreeMap;
use std::path::Path;
use zab::{DiskImage, ServerId, SessionId, TxnOp};

fn load(rel: &str) -> scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(rel);
    scenario::load(&path).expect("scenario loads")
}

/// Runs `sc` capturing `at`, and rebuilds every disk from its initial state (the scenario's
/// `[[server]]` tables) and the durable writes the run reported up to `upto_us`.
fn run(
    sc: &scenario::Scenario,
    at: sim::CaptureAt,
    upto_us: u64,
) -> (sim::Outcome, BTreeMap<ServerId, DiskImage>) {
    let mut opts = sim::Options::new(sc.seed);
    opts.capture = Some(at);
    let disks: BTreeMap<ServerId, DiskImage> = sc
        .cluster
        .all()
        .map(|id| {
            let mut d = DiskImage::default();
            if let Some(init) = sc.servers.iter().find(|s| s.id == id) {
                d.accepted_epoch = init.accepted_epoch;
                d.current_epoch = init.current_epoch;
                d.log = init.log.iter().map(|z| zab::Txn::initial(*z)).collect();
            }
            (id, d)
        })
        .collect();
    watch(sc, opts, disks, move |disks, t, h| {
        if let check::Happening::DiskDurable { id, op } = h {
            if t <= upto_us {
                disks.get_mut(id).expect("a server").apply(op);
            }
        }
    })
}

fn captured(o: &sim::Outcome) -> BTreeMap<ServerId, DiskImage> {
    o.disks
        .as_ref()
        .expect("captured")
        .disks
        .iter()
        .cloned()
        .collect()
}

#[test]
fn the_end_of_a_run_is_every_durable_write_and_changes_nothing() {
    let sc = load("leader-crash-before-commit.toml");
    let plain = sim::run(&sc, sim::Options::new(sc.seed));
    let (o, rebuilt) = run(&sc, sim::CaptureAt::FirstViolationOrEnd, u64::MAX);
    assert_eq!(
        o.trace_hash, plain.trace_hash,
        "capturing does not change the run"
    );
    let c = o.disks.as_ref().expect("captured");
    assert_eq!(c.moment, sim::Moment::End);
    assert_eq!(c.at_us, o.sim_us);
    assert!(
        captured(&o) == rebuilt,
        "the capture is every durable write"
    );
    // Every txn a client asked for has its proposal, with the client's session.
    for (_, disk) in &c.disks {
        assert!(!disk.log.is_empty());
        for t in &disk.log {
            let p = c.proposals.get(&t.id()).expect("proposed in the run");
            assert!(p.at_us <= c.at_us);
            if t.request.is_some() {
                assert_ne!(p.session, SessionId::NONE, "{t:?}");
            }
            if let TxnOp::CreateSession { session, .. } = t.op {
                assert_eq!(p.session, session);
            }
        }
    }
}

#[test]
fn an_asked_time_is_the_disks_after_every_event_up_to_it() {
    let sc = load("leader-crash-before-commit.toml");
    let t = 2_000_000;
    let (o, rebuilt) = run(&sc, sim::CaptureAt::Time(t), t);
    let c = o.disks.as_ref().expect("captured");
    assert_eq!((c.at_us, c.moment), (t, sim::Moment::Asked));
    assert!(
        captured(&o) == rebuilt,
        "the capture is the durable writes up to 2 s"
    );
    let (end, _) = run(&sc, sim::CaptureAt::FirstViolationOrEnd, u64::MAX);
    let logged = |o: &sim::Outcome| -> usize { captured(o).values().map(|d| d.log.len()).sum() };
    assert!(
        logged(&o) < logged(&end),
        "fewer txns at 2 s than at the end"
    );

    let beyond = o.sim_us + 1;
    let (o, _) = run(&sc, sim::CaptureAt::Time(beyond), 0);
    assert!(o.disks.is_none(), "a run that ends first captures nothing");
}

#[test]
fn a_failing_run_is_captured_at_its_first_violation() {
    let sc = load("bugs/zk-1154.toml");
    let (o, _) = run(&sc, sim::CaptureAt::FirstViolationOrEnd, 0);
    let first = o
        .violations
        .iter()
        .map(|v| v.at_us)
        .min()
        .expect("the bug shows");
    let c = o.disks.as_ref().expect("captured");
    assert_eq!((c.at_us, c.moment), (first, sim::Moment::FirstViolation));
    assert!(o.sim_us > first, "the run went on after it");
    // The disks as they were when the violation was found: every durable write up to then
    // (the writes of that same instant included, as the violation's event may be one).
    let (_, at_first) = run(&sc, sim::CaptureAt::FirstViolationOrEnd, first);
    assert!(
        captured(&o) == at_first,
        "the capture is the disks at the violation"
    );
}
