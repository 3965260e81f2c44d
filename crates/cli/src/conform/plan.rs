//! What of a scenario a real ensemble can carry out, decided before anything starts.
//!
//! Every fault of the scenario becomes a planned action on the real processes or the
//! harness's proxies; what has no real counterpart yet is refused with the file, line and
//! key, never skipped, so a real run is always the scenario as written.

use conform::packet::kind;
use conform::{ClientsSpec, EnsembleSpec};
use scenario::model::{Action, OnKind, Scenario, Selector, Trigger};
use std::fmt;

/// When a planned fault fires.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// `at_ms` after the run started.
    At(u64),
    /// The `nth` quorum packet of `kind`, from `sender` (`None`: whoever sends it) to `to`,
    /// counted from `after_ms` on.
    Packet {
        name: String,
        kind: i32,
        sender: Option<u64>,
        to: Option<u64>,
        nth: usize,
        after_ms: u64,
    },
}

/// A server a fault names, resolved when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Leader,
    Follower,
    Observer,
    Any,
    Server(u64),
    /// The sender of the packet that fired the fault.
    Sender,
    /// A client process: any running one (`client`), client N (`c2`), or the one that
    /// believes it leads the election recipe or holds the lock (`recipe-leader`).
    Client,
    ClientN(u32),
    RecipeLeader,
}

impl Target {
    pub fn is_client(self) -> bool {
        matches!(
            self,
            Target::Client | Target::ClientN(_) | Target::RecipeLeader
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Crash {
        target: Target,
        restart_after_ms: Option<u64>,
    },
    /// `restart target = "leader"`: the leader crashed last.
    Restart {
        target: Target,
    },
    Partition {
        groups: Vec<Vec<Target>>,
        /// Everyone not named in another group.
        rest: Option<usize>,
        one_way: bool,
        heal_after_ms: Option<u64>,
    },
    Isolate {
        target: Target,
        heal_after_ms: Option<u64>,
    },
    Heal,
    Pause {
        target: Target,
        duration_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlannedFault {
    pub line: usize,
    pub when: When,
    pub step: Step,
}

/// A scenario as a real run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec: EnsembleSpec,
    /// The clients, run as real ZooKeeper clients.
    pub clients: Option<ClientsSpec>,
    pub faults: Vec<PlannedFault>,
    pub duration_ms: u64,
    /// `[network] reset`: the chance that a packet breaks its connection, and until when
    /// (`[random] until_ms`, else the whole run).
    pub reset: f64,
    pub reset_until_ms: Option<u64>,
    /// The disks of the servers with a `[[server]]` table, written as their data directories
    /// before any server starts (the simulator boots from the same images).
    pub initial: Vec<(u64, zab::DiskImage)>,
    /// The initial txns `[cluster] committed` says are committed: the real run must keep
    /// every one of them, as the simulated one must (`committed-durability`).
    pub committed: Vec<zab::Zxid>,
    /// Servers a fault crashes at 0 ms. They are not started with the others: in the
    /// simulator such a server is gone in the instant it boots, before any of its messages
    /// arrive, while a real server started and crashed when the run's time begins (once
    /// every server answers) would have voted in the first election already.
    pub start_down: Vec<u64>,
}

/// Why a scenario cannot run on a real ensemble: the place in the file and what is missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub file: String,
    pub line: Option<usize>,
    pub key: &'static str,
    pub why: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: `{}`: {}", self.file, l, self.key, self.why),
            None => write!(f, "{}: `{}`: {}", self.file, self.key, self.why),
        }
    }
}

/// Why a partition naming a client is refused.
const CLIENT_LINKS: &str = "the harness's client proxies record client traffic but cannot cut \
                            it yet; name servers only";

/// Packets only a leader sends: "from the leader" then means whoever sends one.
const LEADER_PACKETS: &[&str] = &[
    "LEADERINFO",
    "DIFF",
    "TRUNC",
    "SNAP",
    "NEWLEADER",
    "UPTODATE",
    "PROPOSAL",
    "COMMIT",
    "INFORM",
];

/// The quorum packet type of a zabsim message name (ZooKeeper's names, Leader.java).
fn packet_kind(name: &str) -> Option<i32> {
    Some(match name {
        "LEADERINFO" => kind::LEADERINFO,
        "ACKEPOCH" => kind::ACKEPOCH,
        "FOLLOWERINFO" => kind::FOLLOWERINFO,
        "OBSERVERINFO" => kind::OBSERVERINFO,
        "DIFF" => kind::DIFF,
        "TRUNC" => kind::TRUNC,
        "SNAP" => kind::SNAP,
        "NEWLEADER" => kind::NEWLEADER,
        "UPTODATE" => kind::UPTODATE,
        "PROPOSAL" => kind::PROPOSAL,
        "ACK" => kind::ACK,
        "COMMIT" => kind::COMMIT,
        "INFORM" => kind::INFORM,
        "PING" => kind::PING,
        "REVALIDATE" => kind::REVALIDATE,
        "SYNC" => kind::SYNC,
        _ => return None,
    })
}

/// Whether a `[random]` table still draws faults (an exported run keeps it with every rate
/// at zero, for its `until_ms`).
pub fn draws_faults(r: &scenario::RandomFaults) -> bool {
    [
        r.crash_per_min,
        r.partition_per_min,
        r.pause_per_min,
        r.one_way_per_min,
        r.client_crash_per_min,
        r.client_pause_per_min,
    ]
    .iter()
    .any(|rate| *rate > 0.0)
}

impl Plan {
    pub fn of(sc: &Scenario) -> Result<Plan, Refusal> {
        let file = sc.path.display().to_string();
        let refuse = |line: Option<usize>, key: &'static str, why: String| Refusal {
            file: file.clone(),
            line,
            key,
            why,
        };
        if sc.random.as_ref().is_some_and(draws_faults) {
            return Err(refuse(
                None,
                "random",
                "random faults are drawn by the simulator's seed: draw them first \
                 (`sim conform` does, see `drawn`) or run `sim run --export`"
                    .into(),
            ));
        }
        if sc.network.reset > 0.0 && sc.clients.is_some() {
            return Err(refuse(
                None,
                "network.reset",
                "the real clients connect to the servers directly, not through the harness's \
                 proxies, so their connections cannot be reset at random"
                    .into(),
            ));
        }
        let clients = sc.clients.as_ref().map(|c| ClientsSpec {
            workload: c.workload,
            clients: c.count,
            ops: c.ops,
            write_ratio: c.write_ratio,
            think_ms: c.think_ms,
            session_timeout_ms: u32::try_from(c.session_timeout_ms).unwrap_or(u32::MAX),
            fencing: c.fencing,
            seed: sc.seed,
        });
        if sc.cluster.initial_zxid_counter != 0 {
            return Err(refuse(
                None,
                "initial_zxid_counter",
                "ZooKeeper's release build has no switch for the first zxid counter".into(),
            ));
        }
        let id = |s: zab::ServerId| u64::from(s.0);
        let mut spec = EnsembleSpec::new(sc.cluster.participants.iter().map(|s| id(*s)))
            .with_observers(sc.cluster.observers.iter().map(|s| id(*s)));
        spec.tick_ms = u32::try_from(sc.cluster.tick_ms).unwrap_or(u32::MAX);
        spec.init_limit = sc.cluster.init_limit;
        spec.sync_limit = sc.cluster.sync_limit;
        let mut faults = Vec::new();
        for f in &sc.faults {
            let line = Some(f.line);
            let target = |s: Selector, key: &'static str| -> Result<Target, Refusal> {
                Ok(match s {
                    Selector::Leader => Target::Leader,
                    Selector::Follower => Target::Follower,
                    Selector::Observer => Target::Observer,
                    Selector::Any => Target::Any,
                    Selector::Server(s) => Target::Server(id(s)),
                    Selector::Client if sc.clients.is_some() => Target::Client,
                    Selector::ClientN(n) if sc.clients.as_ref().is_some_and(|c| n <= c.count) => {
                        Target::ClientN(n)
                    }
                    Selector::RecipeLeader if sc.clients.is_some() => Target::RecipeLeader,
                    Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader => {
                        return Err(refuse(line, key, "no such client in `[clients]`".into()))
                    }
                    Selector::Rest => {
                        return Err(refuse(line, key, "`rest` only names a group".into()))
                    }
                })
            };
            let when = match &f.trigger {
                Trigger::At { at_ms } => When::At(*at_ms),
                Trigger::On {
                    kind: on,
                    name,
                    from,
                    to,
                    nth,
                    after_ms,
                    delay_ms,
                } => {
                    if *delay_ms > 0 {
                        return Err(refuse(
                            line,
                            "on.delay_ms",
                            "a delayed trigger is not carried out on a real ensemble yet (the \
                             proxy acts as the packet passes)"
                                .into(),
                        ));
                    }
                    if *on == OnKind::State {
                        return Err(refuse(
                            line,
                            "on",
                            "state triggers are not carried out on a real ensemble yet (the \
                             harness would have to follow the servers' logs as they are \
                             written)"
                                .into(),
                        ));
                    }
                    let Some(k) = packet_kind(name) else {
                        return Err(refuse(
                            line,
                            "on",
                            format!(
                                "{name} is not a quorum packet the harness's proxy can hold \
                                 (election notifications are forwarded, not parsed)"
                            ),
                        ));
                    };
                    let sender = match from {
                        None | Some(Selector::Any) => None,
                        Some(Selector::Server(s)) => Some(id(*s)),
                        Some(Selector::Leader) if LEADER_PACKETS.contains(&name.as_str()) => None,
                        Some(other) => {
                            return Err(refuse(
                                line,
                                "on",
                                format!(
                                    "`from = {}` for {name}: the proxy tells a packet's \
                                     sender, not its role; name a server, or a packet only \
                                     a leader sends",
                                    scenario::selector(*other)
                                ),
                            ))
                        }
                    };
                    let receiver = match to {
                        None | Some(Selector::Any) => None,
                        Some(Selector::Server(s)) => Some(id(*s)),
                        Some(other) => {
                            return Err(refuse(
                                line,
                                "on",
                                format!(
                                    "`to = {}`: the proxy tells a packet's receiver, not its \
                                     role; name a server",
                                    scenario::selector(*other)
                                ),
                            ))
                        }
                    };
                    When::Packet {
                        name: name.clone(),
                        kind: k,
                        sender,
                        to: receiver,
                        nth: *nth as usize,
                        after_ms: *after_ms,
                    }
                }
            };
            let from_leader_packet = matches!(
                &f.trigger,
                Trigger::On {
                    from: Some(Selector::Leader),
                    ..
                }
            );
            // A fault on "the leader" fired by the leader's own packet acts on that packet's
            // sender, the leader at that moment, as the simulator resolves it.
            let resolve = |s: Selector, key| -> Result<Target, Refusal> {
                if s == Selector::Leader && from_leader_packet {
                    Ok(Target::Sender)
                } else {
                    target(s, key)
                }
            };
            let step = match &f.action {
                Action::Crash {
                    target: t,
                    restart_after_ms,
                } => Step::Crash {
                    target: resolve(*t, "target")?,
                    restart_after_ms: *restart_after_ms,
                },
                Action::Restart { target: t } => Step::Restart {
                    target: target(*t, "target")?,
                },
                Action::Partition {
                    groups,
                    one_way,
                    heal_after_ms,
                } => {
                    let mut out = Vec::new();
                    let mut rest = None;
                    for (i, g) in groups.iter().enumerate() {
                        let mut group = Vec::new();
                        for s in g {
                            if *s == Selector::Rest {
                                rest = Some(i);
                            } else {
                                let t = resolve(*s, "groups")?;
                                if t.is_client() {
                                    return Err(refuse(line, "groups", CLIENT_LINKS.into()));
                                }
                                group.push(t);
                            }
                        }
                        out.push(group);
                    }
                    Step::Partition {
                        groups: out,
                        rest,
                        one_way: *one_way,
                        heal_after_ms: *heal_after_ms,
                    }
                }
                Action::Isolate {
                    target: t,
                    heal_after_ms,
                } => {
                    let target = resolve(*t, "target")?;
                    if target.is_client() {
                        return Err(refuse(line, "target", CLIENT_LINKS.into()));
                    }
                    Step::Isolate {
                        target,
                        heal_after_ms: *heal_after_ms,
                    }
                }
                Action::Heal => Step::Heal,
                Action::Pause {
                    target: t,
                    duration_ms,
                } => Step::Pause {
                    target: resolve(*t, "target")?,
                    duration_ms: *duration_ms,
                },
            };
            faults.push(PlannedFault {
                line: f.line,
                when,
                step,
            });
        }
        let initial = sc
            .servers
            .iter()
            .map(|s| (id(s.id), sim::initial::disk(sc, s.id)))
            .collect();
        let committed = match sc.cluster.committed {
            Some(upto) => sc
                .servers
                .iter()
                .flat_map(|s| s.log.iter().copied().filter(|z| *z <= upto))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let start_down = faults
            .iter()
            .filter_map(|f| match (&f.when, &f.step) {
                (
                    When::At(0),
                    Step::Crash {
                        target: Target::Server(s),
                        ..
                    },
                ) => Some(*s),
                _ => None,
            })
            .collect();
        Ok(Plan {
            spec,
            clients,
            faults,
            duration_ms: sc.run.duration_ms,
            reset: sc.network.reset,
            reset_until_ms: sc.random.as_ref().map(|r| r.until_ms),
            initial,
            committed,
            start_down,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        scenario::parse(text, std::path::Path::new("t.toml")).expect("valid scenario")
    }

    #[test]
    fn a_crash_on_the_leaders_first_commit_crashes_whoever_sends_it() {
        let sc = scenario(
            r#"
name = "t"
[cluster]
servers = 3
[[faults]]
on = { send = "COMMIT", from = "leader", nth = 1 }
action = "crash"
target = "leader"
restart_after_ms = 3000
"#,
        );
        let plan = Plan::of(&sc).expect("plan");
        assert_eq!(plan.spec.participants, vec![1, 2, 3]);
        assert_eq!(
            plan.faults[0].when,
            When::Packet {
                name: "COMMIT".into(),
                kind: kind::COMMIT,
                sender: None,
                to: None,
                nth: 1,
                after_ms: 0
            }
        );
        assert_eq!(
            plan.faults[0].step,
            Step::Crash {
                target: Target::Sender,
                restart_after_ms: Some(3000)
            }
        );
    }

    #[test]
    fn what_a_real_ensemble_cannot_do_is_refused_with_its_line_and_key() {
        let sc = scenario(
            r#"
name = "t"
[cluster]
servers = 3
[[faults]]
on = { send = "NOTIFICATION", from = "s1", nth = 1 }
action = "crash"
target = "s1"
"#,
        );
        let r = Plan::of(&sc).expect_err("refused");
        assert_eq!((r.line, r.key), (Some(5), "on"));
        assert!(
            r.to_string().starts_with("t.toml:5: `on`: NOTIFICATION"),
            "{r}"
        );

        let sc = scenario("name = \"t\"\n[cluster]\nservers = 3\n[random]\ncrash_per_min = 1.0\n");
        assert_eq!(Plan::of(&sc).expect_err("refused").key, "random");
        // An exported run keeps its [random] table with nothing left to draw.
        let sc = scenario("name = \"t\"\n[cluster]\nservers = 3\n[random]\ncrash_per_min = 0.0\n");
        assert!(Plan::of(&sc).is_ok());

        let sc = scenario("name = \"t\"\n[cluster]\nservers = 3\n[network]\nreset = 0.01\n");
        assert_eq!(Plan::of(&sc).expect("resets between servers").reset, 0.01);
        let sc = scenario(
            "name = \"t\"\n[cluster]\nservers = 3\n[network]\nreset = 0.01\n[clients]\ncount = 1\n",
        );
        assert_eq!(Plan::of(&sc).expect_err("refused").key, "network.reset");

        let sc = scenario(
            "name = \"t\"\n[cluster]\nservers = 3\n[[faults]]\n\
             on = { receive = \"TRUNC\", to = \"s1\", delay_ms = 40 }\naction = \"crash\"\n\
             target = \"s1\"\n",
        );
        let r = Plan::of(&sc).expect_err("refused");
        assert_eq!((r.line, r.key), (Some(4), "on.delay_ms"));
    }

    #[test]
    fn initial_state_becomes_data_directories_and_a_server_crashed_at_0_ms_starts_down() {
        let sc = scenario(
            r#"
name = "t"
[cluster]
servers = 3
committed = "1:2"
[[server]]
id = 1
accepted_epoch = 1
current_epoch = 1
log = ["1:1-2"]
[[server]]
id = 2
accepted_epoch = 2
current_epoch = 1
log = ["1:1-3"]
[[faults]]
at_ms = 0
action = "crash"
target = "s3"
restart_after_ms = 1000
[[faults]]
at_ms = 10
action = "crash"
target = "s1"
"#,
        );
        let plan = Plan::of(&sc).expect("initial state runs on a real ensemble");
        let ids: Vec<u64> = plan.initial.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, vec![1, 2]);
        let s2 = &plan.initial[1].1;
        assert_eq!((s2.accepted_epoch, s2.current_epoch), (2, 1));
        let logged: Vec<zab::Zxid> = s2.log.iter().map(|t| t.zxid).collect();
        assert_eq!(
            logged,
            vec![
                zab::Zxid::new(1, 1),
                zab::Zxid::new(1, 2),
                zab::Zxid::new(1, 3)
            ]
        );
        assert_eq!(
            plan.committed,
            vec![zab::Zxid::new(1, 1), zab::Zxid::new(1, 2)]
        );
        // Only a crash at 0 ms keeps a server from starting.
        assert_eq!(plan.start_down, vec![3]);
    }
}
