//! What the ZAB scenario library shows that `[expect]` cannot say: which messages carried the
//! txns, why a leader stepped down, how deliveries are numbered. Everything a scenario can
//! state about its outcome lives in its own `[expect]` table (tests/library.rs). These tests
//! watch the run's happenings as the checkers do, with their types.

mod common;

use check::Happening;
use zab::{Endpoint, Event, Message, ServerId, TxnId, Zxid};

/// Runs a library scenario with its own seed, handing each happening to `f` with `state`;
/// the run must pass.
fn run<S: 'static>(
    dir: &str,
    name: &str,
    state: S,
    f: impl FnMut(&mut S, &Happening<'_>) + 'static,
) -> (sim::Outcome, S) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(dir)
        .join(name);
    let sc = scenario::load(&path).expect("scenario loads");
    let mut f = f;
    let (o, state) = common::watch(&sc, sim::Options::new(sc.seed), state, move |s, _, h| {
        f(s, h)
    });
    assert!(o.verdict.passed, "{name}: {:?}", o.verdict.reasons);
    (o, state)
}

/// Every running server ends with the same delivered history; returns it.
fn agreed_history(o: &sim::Outcome) -> Vec<TxnId> {
    let mut it = o.delivered.iter();
    let (first_id, first) = it.next().expect("a running server");
    for (id, h) in it {
        assert_eq!(
            h, first,
            "{id} and {first_id} end with different delivered histories"
        );
    }
    first.to_vec()
}

#[test]
fn observer_catches_up_through_inform() {
    let (o, informs) = run("", "observer-catch-up.toml", 0, |n, h| {
        if let Happening::Deliver {
            to: Endpoint::Server(ServerId(4)),
            msg: Message::Inform { .. },
            ..
        } = h
        {
            *n += 1;
        }
    });
    assert!(
        informs > 10,
        "the observer follows commits through INFORM ({informs})"
    );
    assert!(o.delivered.contains_key(&ServerId(4)));
    agreed_history(&o);
}

#[test]
fn zxid_rollover_forces_a_new_epoch() {
    let (o, rolled) = run("", "zxid-rollover.toml", false, |rolled, h| {
        if let Happening::Server {
            event: Event::LeaderShutdown { reason },
            ..
        } = h
        {
            *rolled |= reason.contains("rolled over");
        }
    });
    assert!(rolled, "the leader steps down at the rollover guard");
    assert!(o.epoch >= 2);
    let history = agreed_history(&o);
    let epochs: std::collections::BTreeSet<u64> = history.iter().map(|t| t.zxid.epoch()).collect();
    assert!(
        history.len() >= 15 && epochs.len() >= 3,
        "writes go on across the rollovers: {} txns in epochs {epochs:?}",
        history.len()
    );
    assert!(history.iter().all(|t| t.zxid.counter() < Zxid::COUNTER_MAX));
}

/// What the delivery numbering test counts.
#[derive(Default)]
struct Numbering {
    counts: std::collections::BTreeMap<ServerId, usize>,
    lowering_resets: u32,
    crashes: u32,
    wrong: Vec<String>,
}

impl Numbering {
    fn on(&mut self, name: &str, h: &Happening<'_>) {
        match h {
            Happening::Crash { id } | Happening::Restart { id } => {
                self.crashes += 1;
                self.counts.insert(*id, 0);
            }
            Happening::Server { id, event } => {
                let c = self.counts.entry(*id).or_default();
                match event {
                    Event::Delivered { from, count } => {
                        if *from != *c || *count <= *c {
                            self.wrong.push(format!("{name}: {id} {event:?} after {c}"));
                        }
                        *c = *count;
                    }
                    Event::TreeReset { kept } => {
                        if *kept < *c {
                            self.lowering_resets += 1;
                        }
                        *c = (*c).min(*kept);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// A `Delivered` names the txns it adds: `from` is the server's previous count, lowered by any
/// `TreeReset` since and zero after a crash or restart. The delivery checkers read that range
/// instead of following every server's count themselves, so a wrong `from` would make them
/// skip txns or look at some twice.
#[test]
fn delivered_starts_where_the_server_last_left_off() {
    let mut n = Numbering::default();
    // commit-before-quorum's new leader resyncs an old one that delivered a txn nobody else
    // had, so a reset lowers a count below what was delivered.
    for (dir, name) in [
        ("", "rolling-restart-under-writes.toml"),
        ("", "follower-far-behind-snap.toml"),
        ("", "trunc-below-snapshot-zxid.toml"),
        ("bugs", "commit-before-quorum.toml"),
    ] {
        n.counts.clear();
        n = run(dir, name, n, move |n, h| n.on(name, h)).1;
    }
    assert!(n.wrong.is_empty(), "{}", n.wrong.join("\n"));
    // The runs exercise both ways a count drops.
    assert!(n.lowering_resets > 0, "no TreeReset lowered a count");
    assert!(n.crashes > 0, "no crash or restart");
}
