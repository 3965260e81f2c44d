//! The comparison of one real run with the simulation over many seeds, field by field.
//!
//! A real value agrees when some simulated run under the same release reached it: the real
//! leader is one the simulation elects, the real epoch one it reaches, and so on. Election
//! times agree when the real one lies within the simulated range; the median and p10-p90 are
//! shown beside it. A field that differs is a finding, to be explained by a ZooKeeper source
//! line or a documented difference, never by widening the comparison.

use super::real::RealRun;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What one simulated seed showed, reduced to what is compared.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSummary {
    pub seed: u64,
    pub leader: Option<u64>,
    pub epoch: u64,
    /// (leader, epoch, ms from losing a leader to the next one established), in order.
    pub elections: Vec<(u64, u64, f64)>,
    pub committed: u64,
    /// No violation of the invariants about the servers' histories agreeing, the ones a
    /// real run's txn logs can show ([`HISTORY_INVARIANTS`]).
    pub histories_agree: bool,
    /// Every txn the scenario's `[expect] delivered` names was delivered somewhere, and none
    /// of `never_delivered` was.
    pub expected_txns: bool,
    /// The client-visible invariants it violated ([`check::recorded::CHECKED`]): what a real
    /// run's clients are judged on.
    pub client_violations: BTreeSet<String>,
    /// How each learner was synchronized, sorted (see [`Sync`]).
    pub syncs: Vec<Sync>,
}

/// One synchronization a leader chose: the learner, DIFF, TRUNC or SNAP, and the packet's
/// zxid (the DIFF's last zxid, the TRUNC target, the leader's last processed zxid for a
/// SNAP: LearnerHandler.java:854-863, 981-1036 and 567-568 at release-3.8.0-1). A real run's come from the
/// packets the proxies carried, a simulated run's from the leaders' sync decisions.
pub type Sync = (u64, &'static str, zab::Zxid);

/// Which ways each learner was synchronized: what the `sync modes` field compares. The
/// zxids and how often are left out of the comparison: with clients they follow the number
/// of writes, which no two runs share, and a real server restarts a JVM start later than a
/// simulated one (about a second), so a restart shortly before another fault can miss a
/// sync the simulated one has. The real run's zxids are in its JSON (`real.syncs`).
pub fn sync_modes(syncs: &[Sync]) -> Vec<(u64, &'static str)> {
    let modes: BTreeSet<(u64, &'static str)> = syncs.iter().map(|(l, m, _)| (*l, *m)).collect();
    modes.into_iter().collect()
}

/// Sync modes as the table shows them: "s1 DIFF, s3 SNAP".
fn modes_text(modes: &[(u64, &'static str)]) -> String {
    if modes.is_empty() {
        return "none".into();
    }
    modes
        .iter()
        .map(|(l, mode)| format!("s{l} {mode}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The invariants whose breach shows in the servers' txn logs: what a real run is compared
/// on. The others need the servers' internals (when an ACK left, what was durable then) and
/// are not compared.
pub const HISTORY_INVARIANTS: &[&str] = &[
    "prefix-consistency",
    "total-order",
    "history-consistency",
    "committed-durability",
];

/// Whether `delivered` holds every txn of `must` and none of `never`.
pub fn expected_txns(
    delivered: &std::collections::BTreeSet<zab::Zxid>,
    must: &[zab::Zxid],
    never: &[zab::Zxid],
) -> bool {
    must.iter().all(|z| delivered.contains(z)) && !never.iter().any(|z| delivered.contains(z))
}

impl SimSummary {
    pub fn of(o: &sim::Outcome, must: &[zab::Zxid], never: &[zab::Zxid]) -> SimSummary {
        let delivered = o
            .delivered
            .values()
            .flat_map(|h| h.iter())
            .map(|t| t.zxid)
            .collect();
        SimSummary {
            seed: o.seed,
            leader: o.leader.map(|(l, _)| u64::from(l.0)),
            epoch: o.epoch,
            elections: o
                .elections
                .iter()
                .map(|e| {
                    let took = e.established_us.saturating_sub(e.started_us) as f64 / 1000.0;
                    (u64::from(e.leader.0), e.epoch, took)
                })
                .collect(),
            committed: o.committed,
            histories_agree: !o
                .violations
                .iter()
                .any(|v| HISTORY_INVARIANTS.contains(&v.invariant)),
            expected_txns: expected_txns(&delivered, must, never),
            client_violations: o
                .violations
                .iter()
                .filter(|v| check::recorded::CHECKED.contains(&v.invariant))
                .map(|v| v.invariant.to_string())
                .collect(),
            syncs: {
                let mut syncs: Vec<Sync> = o
                    .syncs
                    .iter()
                    .map(|s| (u64::from(s.learner.0), s.mode.name(), s.zxid))
                    .collect();
                syncs.sort();
                syncs
            },
        }
    }
}

/// One compared field (the report draws the same rows).
pub use report::html::Field;

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub fields: Vec<Field>,
}

impl Comparison {
    pub fn agree(&self) -> bool {
        self.differing().is_empty()
    }

    /// The names of the fields that differ, in order.
    pub fn differing(&self) -> Vec<&str> {
        report::html::differing(&self.fields)
    }

    /// The seed whose run is closest to the real one: most fields equal, then the lowest seed.
    pub fn closest(real: &RealRun, sims: &[SimSummary]) -> Option<u64> {
        sims.iter()
            .max_by_key(|s| {
                let score = u32::from(s.leader == real.leader)
                    + u32::from(s.epoch == real.epoch)
                    + u32::from(s.elections.len() == real.elections.len());
                (score, std::cmp::Reverse(s.seed))
            })
            .map(|s| s.seed)
    }

    pub fn json(&self) -> Value {
        Value::Array(
            self.fields
                .iter()
                .map(|f| json!({"field": f.name, "real": f.real, "simulated": f.simulated, "agree": f.agree}))
                .collect(),
        )
    }
}

/// Counts of each simulated value, as "s3 (180), s2 (20)".
fn counts<T: Ord + Clone>(
    values: impl Iterator<Item = T>,
    show: impl Fn(&T) -> String,
) -> (BTreeMap<T, usize>, String) {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v).or_insert(0) += 1;
    }
    let mut by_count: Vec<(&T, &usize)> = m.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    let text = by_count
        .iter()
        .map(|(v, n)| format!("{} ({n})", show(v)))
        .collect::<Vec<_>>()
        .join(", ");
    (m, text)
}

/// The first `n` values of a [`counts`] text, and how many more there are: a field whose
/// value is a list can take a different value in every seed.
fn first_values(text: &str, n: usize) -> String {
    let values: Vec<&str> = text.split("), ").collect();
    if values.len() <= n {
        return text.to_string();
    }
    format!(
        "{}), and {} other values",
        values[..n].join("), "),
        values.len() - n
    )
}

fn leader_name(l: &Option<u64>) -> String {
    l.map_or("none".into(), |l| format!("s{l}"))
}

/// The q-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `real_expected`: whether the real run committed every txn `[expect] delivered` names and
/// none of `never_delivered` (`None` when the scenario names none). `real_clients`: the
/// client-visible invariants the real run's clients broke (`None` without clients).
pub fn compare(
    real: &RealRun,
    sims: &[SimSummary],
    real_expected: Option<bool>,
    real_clients: Option<&BTreeSet<String>>,
) -> Comparison {
    let mut fields = Vec::new();
    let (m, text) = counts(sims.iter().map(|s| s.leader), leader_name);
    fields.push(Field {
        name: "leader".into(),
        real: leader_name(&real.leader),
        simulated: text,
        agree: m.contains_key(&real.leader),
    });
    let (m, text) = counts(sims.iter().map(|s| s.epoch), |e| e.to_string());
    fields.push(Field {
        name: "epoch".into(),
        real: real.epoch.to_string(),
        simulated: text,
        agree: m.contains_key(&real.epoch),
    });
    let (m, text) = counts(sims.iter().map(|s| s.elections.len()), |n| n.to_string());
    fields.push(Field {
        name: "elections".into(),
        real: real.elections.len().to_string(),
        simulated: text,
        agree: m.contains_key(&real.elections.len()),
    });
    let chain = |e: &[(u64, u64)]| {
        e.iter()
            .map(|(l, ep)| format!("s{l}@{ep}"))
            .collect::<Vec<_>>()
            .join(" → ")
    };
    let real_chain: Vec<(u64, u64)> = real.elections.iter().map(|e| (e.leader, e.epoch)).collect();
    let (m, text) = counts(
        sims.iter().map(|s| {
            s.elections
                .iter()
                .map(|(l, e, _)| (*l, *e))
                .collect::<Vec<_>>()
        }),
        |c| {
            if c.is_empty() {
                "none".into()
            } else {
                chain(c)
            }
        },
    );
    fields.push(Field {
        name: "leaders and epochs".into(),
        real: if real_chain.is_empty() {
            "none".into()
        } else {
            chain(&real_chain)
        },
        simulated: text,
        agree: m.contains_key(&real_chain),
    });
    let (m, text) = counts(sims.iter().map(|s| s.leader.is_some()), |b| {
        if *b {
            "a leader".into()
        } else {
            "no leader".into()
        }
    });
    fields.push(Field {
        name: "live at the end".into(),
        real: if real.leader.is_some() {
            "a leader"
        } else {
            "no leader"
        }
        .into(),
        simulated: text,
        agree: m.contains_key(&real.leader.is_some()),
    });
    let (m, text) = counts(sims.iter().map(|s| sync_modes(&s.syncs)), |v| modes_text(v));
    let real_modes = sync_modes(&real.syncs);
    fields.push(Field {
        name: "sync modes".into(),
        real: modes_text(&real_modes),
        simulated: first_values(&text, 3),
        agree: m.contains_key(&real_modes),
    });
    let (m, text) = counts(sims.iter().map(|s| s.histories_agree), |b| {
        if *b {
            "agree".into()
        } else {
            "differ".into()
        }
    });
    fields.push(Field {
        name: "histories".into(),
        real: if real.same_history { "agree" } else { "differ" }.into(),
        simulated: text,
        agree: m.contains_key(&real.same_history),
    });
    if let Some(real_ok) = real_expected {
        let (m, text) = counts(sims.iter().map(|s| s.expected_txns), |b| {
            if *b {
                "as expected".into()
            } else {
                "not as expected".into()
            }
        });
        fields.push(Field {
            name: "expected txns".into(),
            real: if real_ok {
                "as expected"
            } else {
                "not as expected"
            }
            .into(),
            simulated: text,
            agree: m.contains_key(&real_ok),
        });
    }
    if let Some(real_broken) = real_clients {
        let show = |set: &BTreeSet<String>| {
            if set.is_empty() {
                "none broken".to_string()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        let (m, text) = counts(sims.iter().map(|s| s.client_violations.clone()), show);
        fields.push(Field {
            name: "client checks".into(),
            real: show(real_broken),
            simulated: text,
            agree: m.contains_key(real_broken),
        });
    }
    let (lo, hi) = sims
        .iter()
        .map(|s| s.committed)
        .fold((u64::MAX, 0), |(lo, hi), c| (lo.min(c), hi.max(c)));
    let real_committed = real.committed.len() as u64;
    fields.push(Field {
        name: "committed txns".into(),
        real: real_committed.to_string(),
        simulated: format!("{lo}..{hi}"),
        agree: (lo..=hi).contains(&real_committed),
    });
    // Election times after the first: the first includes starting the JVMs, which the
    // simulator does not model (its servers boot at once), so it is not compared.
    for (i, e) in real.elections.iter().enumerate().skip(1) {
        let mut took: Vec<f64> = sims
            .iter()
            .filter_map(|s| s.elections.get(i).map(|x| x.2))
            .collect();
        took.sort_by(f64::total_cmp);
        let real_took = e.established_ms - e.started_ms;
        let (simulated, agree) = if took.is_empty() {
            ("no simulated run has this election".to_string(), false)
        } else {
            let below = took.iter().filter(|t| **t < real_took).count();
            (
                format!(
                    "median {:.0} ms, p10-p90 {:.0}-{:.0} ms, range {:.0}-{:.0} ms; real at p{:.0}",
                    quantile(&took, 0.5),
                    quantile(&took, 0.1),
                    quantile(&took, 0.9),
                    took[0],
                    took[took.len() - 1],
                    100.0 * below as f64 / took.len() as f64
                ),
                real_took >= took[0] && real_took <= took[took.len() - 1],
            )
        };
        fields.push(Field {
            name: format!("election {} time", i + 1),
            real: format!("{real_took:.0} ms"),
            simulated,
            agree,
        });
    }
    Comparison { fields }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::real::RealElection;

    fn real(leader: Option<u64>, epoch: u64, elections: &[(u64, u64, f64, f64)]) -> RealRun {
        RealRun {
            leader,
            epoch,
            elections: elections
                .iter()
                .map(|(l, e, s, t)| RealElection {
                    leader: *l,
                    epoch: *e,
                    started_ms: *s,
                    established_ms: *t,
                })
                .collect(),
            same_history: true,
            ..RealRun::default()
        }
    }

    fn sim(seed: u64, leader: Option<u64>, epoch: u64, el: &[(u64, u64, f64)]) -> SimSummary {
        SimSummary {
            seed,
            leader,
            epoch,
            elections: el.to_vec(),
            committed: 0,
            histories_agree: true,
            expected_txns: true,
            client_violations: BTreeSet::new(),
            syncs: Vec::new(),
        }
    }

    #[test]
    fn sync_modes_agree_whatever_the_zxids_and_differ_on_another_mode() {
        let z = zab::Zxid::new;
        let mut a = sim(1, Some(3), 1, &[(3, 1, 300.0)]);
        a.syncs = vec![
            (1, "DIFF", z(1, 4)),
            (1, "DIFF", z(1, 9)),
            (2, "DIFF", z(1, 9)),
        ];
        let mut b = sim(2, Some(3), 1, &[(3, 1, 300.0)]);
        b.syncs = vec![(1, "DIFF", z(1, 2)), (2, "SNAP", z(1, 2))];
        let mut r = real(Some(3), 1, &[(3, 1, 0.0, 300.0)]);
        r.syncs = vec![(1, "DIFF", z(1, 7)), (2, "DIFF", z(1, 7))];
        let field = |c: &Comparison| {
            let f = c.fields.iter().find(|f| f.name == "sync modes").unwrap();
            (f.real.clone(), f.agree)
        };
        let c = compare(&r, &[a.clone(), b.clone()], None, None);
        assert_eq!(field(&c), ("s1 DIFF, s2 DIFF".to_string(), true));
        let c = compare(&r, &[b], None, None);
        assert_eq!(field(&c), ("s1 DIFF, s2 DIFF".to_string(), false));
        r.syncs.push((2, "TRUNC", z(1, 3)));
        let c = compare(&r, &[a], None, None);
        assert_eq!(field(&c), ("s1 DIFF, s2 DIFF, s2 TRUNC".to_string(), false));
    }

    #[test]
    fn a_client_check_the_simulation_never_breaks_differs() {
        let sims = vec![sim(1, Some(2), 1, &[(2, 1, 300.0)])];
        let r = real(Some(2), 1, &[(2, 1, 0.0, 1500.0)]);
        let none = BTreeSet::new();
        let c = compare(&r, &sims, None, Some(&none));
        assert!(c.agree(), "{:#?}", c.fields);
        let lost: BTreeSet<String> = ["linearizable-writes".to_string()].into();
        let c = compare(&r, &sims, None, Some(&lost));
        assert_eq!(c.differing(), ["client checks"]);
        let f = c.fields.iter().find(|f| f.name == "client checks").unwrap();
        assert_eq!(
            (f.real.as_str(), f.simulated.as_str()),
            ("linearizable-writes", "none broken (1)")
        );
    }

    #[test]
    fn a_real_run_the_simulation_reaches_agrees() {
        let sims = vec![
            sim(1, Some(2), 2, &[(3, 1, 300.0), (2, 2, 900.0)]),
            sim(2, Some(2), 2, &[(3, 1, 280.0), (2, 2, 1100.0)]),
        ];
        let r = real(Some(2), 2, &[(3, 1, 0.0, 1500.0), (2, 2, 5000.0, 6000.0)]);
        let c = compare(&r, &sims, None, None);
        assert!(c.agree(), "{:#?}", c.fields);
        assert_eq!(Comparison::closest(&r, &sims), Some(1));
    }

    #[test]
    fn a_leader_or_time_the_simulation_never_shows_differs_and_is_named() {
        let sims = vec![sim(1, Some(2), 2, &[(3, 1, 300.0), (2, 2, 900.0)])];
        let r = real(Some(1), 2, &[(3, 1, 0.0, 1500.0), (1, 2, 5000.0, 9000.0)]);
        let c = compare(&r, &sims, None, None);
        assert!(!c.agree());
        let differ: Vec<&str> = c
            .fields
            .iter()
            .filter(|f| !f.agree)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            differ,
            vec!["leader", "leaders and epochs", "election 2 time"]
        );
    }
}
