//! Faults: planning timed, event-triggered and random (swarm) faults drawn from the seed, and
//! carrying them out (`carry`).

mod carry;

use crate::rng::between;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scenario::{Action, Fault, OnKind, RandomFaults, Selector, Trigger};

/// A fault the simulator will carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Planned {
    /// The `[[faults]]` table at `index` (timed, or triggered once its trigger matched).
    Scripted {
        index: usize,
        action: Action,
    },
    /// A random crash; restart after the delay.
    RandomCrash {
        restart_after_us: u64,
    },
    /// A random partition into two groups (one-way: only the first cannot reach the
    /// second); heal after the delay.
    RandomPartition {
        heal_after_us: u64,
        one_way: bool,
    },
    RandomPause {
        duration_us: u64,
    },
    /// A random client process crash; a new process with a new session starts after the
    /// delay.
    RandomClientCrash {
        restart_after_us: u64,
    },
    RandomClientPause {
        duration_us: u64,
    },
}

/// When a planned fault ends (its restart, heal or resume), relative to when it starts.
pub fn duration_us(p: &Planned) -> u64 {
    match p {
        Planned::Scripted { action: a, .. } => match a {
            Action::Crash {
                restart_after_ms, ..
            } => restart_after_ms.unwrap_or(0) * 1000,
            Action::Partition { heal_after_ms, .. } | Action::Isolate { heal_after_ms, .. } => {
                heal_after_ms.unwrap_or(0) * 1000
            }
            Action::Pause { duration_ms, .. } => duration_ms * 1000,
            Action::Restart { .. } | Action::Heal => 0,
        },
        Planned::RandomCrash { restart_after_us } => *restart_after_us,
        Planned::RandomPartition { heal_after_us, .. } => *heal_after_us,
        Planned::RandomPause { duration_us } => *duration_us,
        Planned::RandomClientCrash { restart_after_us } => *restart_after_us,
        Planned::RandomClientPause { duration_us } => *duration_us,
    }
}

/// Builds one random fault of a family, drawing its duration.
type MakeFault = fn(&RandomFaults, &mut ChaCha8Rng) -> Planned;

/// Draws the random faults of a run: a Poisson process per family, up to `until_ms`.
pub fn plan_random(r: &RandomFaults, rng: &mut ChaCha8Rng) -> Vec<(u64, Planned)> {
    let mut plan = Vec::new();
    let until = r.until_ms * 1000;
    let families: [(f64, MakeFault); 6] = [
        (r.crash_per_min, |r, rng| Planned::RandomCrash {
            restart_after_us: between(rng, r.restart_ms) * 1000,
        }),
        (r.partition_per_min, |r, rng| Planned::RandomPartition {
            heal_after_us: between(rng, r.partition_ms) * 1000,
            one_way: false,
        }),
        (r.pause_per_min, |r, rng| Planned::RandomPause {
            duration_us: between(rng, r.pause_ms) * 1000,
        }),
        (r.one_way_per_min, |r, rng| Planned::RandomPartition {
            heal_after_us: between(rng, r.partition_ms) * 1000,
            one_way: true,
        }),
        // Client families come last, so that switching them on leaves the server faults of
        // a seed as they were.
        (r.client_crash_per_min, |r, rng| {
            Planned::RandomClientCrash {
                restart_after_us: between(rng, r.restart_ms) * 1000,
            }
        }),
        (r.client_pause_per_min, |r, rng| {
            Planned::RandomClientPause {
                duration_us: between(rng, r.pause_ms) * 1000,
            }
        }),
    ];
    for (rate, make) in families {
        if rate <= 0.0 {
            continue;
        }
        let mean_gap_us = 60_000_000.0 / rate;
        let mut t = 0.0f64;
        loop {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            t += -u.ln() * mean_gap_us;
            if t >= until as f64 {
                break;
            }
            // Whole milliseconds, so that an exported run can state them exactly.
            plan.push((t as u64 / 1000 * 1000, make(r, rng)));
        }
    }
    plan.sort_by_key(|(t, _)| *t);
    plan
}

/// An event-triggered fault waiting for its match.
#[derive(Clone, Debug)]
pub struct Armed {
    /// Index of the fault in the scenario's `[[faults]]`.
    pub index: usize,
    pub fault: Fault,
    pub seen: u32,
    pub fired: bool,
}

impl Armed {
    pub fn new(index: usize, fault: Fault) -> Armed {
        Armed {
            index,
            fault,
            seen: 0,
            fired: false,
        }
    }

    /// Counts a candidate event; true when this is the `nth` match and the fault must fire.
    pub fn count(
        &mut self,
        kind: OnKind,
        name: &str,
        now_us: u64,
        from_ok: &dyn Fn(&Selector) -> bool,
        to_ok: &dyn Fn(&Selector) -> bool,
    ) -> bool {
        if self.fired {
            return false;
        }
        let Trigger::On {
            kind: k,
            name: n,
            from,
            to,
            nth,
            after_ms,
            ..
        } = &self.fault.trigger
        else {
            return false;
        };
        if *k != kind || n != name || now_us < after_ms * 1000 {
            return false;
        }
        if from.as_ref().is_some_and(|s| !from_ok(s)) || to.as_ref().is_some_and(|s| !to_ok(s)) {
            return false;
        }
        self.seen += 1;
        if self.seen == *nth {
            self.fired = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn random_plan_is_seeded_and_bounded() {
        let r = RandomFaults {
            until_ms: 60_000,
            crash_per_min: 2.0,
            restart_ms: (500, 5000),
            partition_per_min: 1.0,
            partition_ms: (1000, 5000),
            pause_per_min: 0.0,
            one_way_per_min: 0.0,
            client_crash_per_min: 0.0,
            client_pause_per_min: 0.0,
            pause_ms: (500, 5000),
        };
        let a = plan_random(&r, &mut stream(7, 3));
        let b = plan_random(&r, &mut stream(7, 3));
        let c = plan_random(&r, &mut stream(8, 3));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|(t, _)| *t < 60_000_000));
        let crashes = a
            .iter()
            .filter(|(_, p)| matches!(p, Planned::RandomCrash { .. }))
            .count();
        assert!(
            (1..=8).contains(&crashes),
            "about 2 per minute, got {crashes}"
        );
        assert!(!a
            .iter()
            .any(|(_, p)| matches!(p, Planned::RandomPause { .. })));
    }
}
