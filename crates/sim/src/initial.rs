//! Initial durable states an ensemble can really be found in, made by playing out a short past.
//!
//! A TLA+ spec starts from any state its invariants allow; a simulator that starts every
//! server from an empty disk never sees an ensemble that comes back after an outage with
//! servers on different epochs and logs (the state ZOOKEEPER-1419 needs). Drawing the
//! `[[server]]` tables field by field would mostly give states ZAB can never reach (a txn of
//! an epoch nobody established, two servers that disagree on what is committed), and the
//! checkers would blame the protocol for them. So the state is the end of a made-up past
//! instead: a few epochs, each with a leader that is the best of the servers it discovered
//! (as FastLeaderElection and the leader's ACKEPOCH check make it), some of which only wrote
//! acceptedEpoch (LEADERINFO), some also took the leader's history and currentEpoch
//! (NEWLEADER), and, if a quorum did, proposals each follower logged a prefix of (observers
//! only what was committed, as INFORM carries). Crashes at any point are implied: the past
//! simply stops where the epoch's fields say.
//!
//! The swarm draws a past from its seed; the property tests generate one with proptest, so
//! that a failure shrinks to fewer epochs, servers and txns.

use scenario::{Cluster, Scenario, ServerInit};
use std::collections::BTreeMap;
use zab::{DiskImage, ServerId, Txn, Zxid};

/// The disk server `id` boots from: its `[[server]]` table's epochs and log, or an empty
/// disk. `sim conform` writes the same image as the real server's data directory, so both
/// sides of a comparison start from one state.
pub fn disk(sc: &Scenario, id: ServerId) -> DiskImage {
    let mut image = DiskImage::default();
    if let Some(init) = sc.servers.iter().find(|s| s.id == id) {
        image.accepted_epoch = init.accepted_epoch;
        image.current_epoch = init.current_epoch;
        image.log = init.log.iter().map(|z| Txn::initial(*z)).collect();
    }
    image
}

/// One epoch of the past. Server sets are bit masks over the ensemble's members in
/// [`Cluster::all`] order (bit 0 is the first participant); bits past the last member are
/// ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Servers that received LEADERINFO and wrote the new acceptedEpoch. The leader is the
    /// best participant among them; without a participant the epoch never started.
    pub discovered: u16,
    /// Of those, the servers that also received NEWLEADER: they took the leader's history and
    /// wrote currentEpoch. Only if a quorum of participants discovered the epoch (the leader
    /// syncs no one before a quorum's ACKEPOCH); the leader always counts as synced then.
    pub synced: u16,
    /// Txns the leader proposed, if a quorum of participants synced (it established the
    /// epoch); otherwise ignored.
    pub proposals: u32,
    /// How many of the proposals each member logged, by member index, capped at
    /// `proposals`; a missing entry means all of them. The leader logs every proposal.
    pub logged: Vec<u32>,
}

/// What a past leaves on the disks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durable {
    /// One table per server that holds anything, in member order.
    pub servers: Vec<ServerInit>,
    /// The highest zxid such that every logged txn up to it is held by a quorum of
    /// participants: what `[cluster] committed` may claim. `None` if no txn is.
    pub committed: Option<Zxid>,
}

#[derive(Clone, Debug, Default)]
struct Disk {
    accepted_epoch: u64,
    current_epoch: u64,
    log: Vec<Zxid>,
}

/// FastLeaderElection's order of votes: currentEpoch, then last zxid, then id.
fn vote(id: ServerId, d: &Disk) -> (u64, Zxid, ServerId) {
    (
        d.current_epoch,
        d.log.last().copied().unwrap_or(Zxid(0)),
        id,
    )
}

/// Plays out `past` on empty disks of `cluster`'s servers.
pub fn play(cluster: &Cluster, past: &[Epoch]) -> Durable {
    let members: Vec<ServerId> = cluster.all().collect();
    let members = &members[..members.len().min(16)];
    let is_participant = |i: usize| i < cluster.participants.len();
    let quorum = cluster.participants.len() / 2 + 1;
    let mut disks: Vec<Disk> = vec![Disk::default(); members.len()];
    let in_mask = |mask: u16, i: usize| mask & (1 << i) != 0;

    for step in past {
        let discovered: Vec<usize> = (0..members.len())
            .filter(|&i| in_mask(step.discovered, i))
            .collect();
        let Some(&leader) = discovered
            .iter()
            .filter(|&&i| is_participant(i))
            .max_by_key(|&&i| vote(members[i], &disks[i]))
        else {
            continue;
        };
        let epoch = disks.iter().map(|d| d.accepted_epoch).max().unwrap_or(0) + 1;
        for &i in &discovered {
            disks[i].accepted_epoch = epoch;
        }
        let voters = discovered.iter().filter(|&&i| is_participant(i)).count();
        if voters < quorum {
            continue;
        }
        let synced: Vec<usize> = discovered
            .iter()
            .copied()
            .filter(|&i| i == leader || in_mask(step.synced, i))
            .collect();
        let history = disks[leader].log.clone();
        for &i in &synced {
            disks[i].current_epoch = epoch;
            disks[i].log.clone_from(&history);
        }
        let synced_voters = synced.iter().filter(|&&i| is_participant(i)).count();
        if synced_voters < quorum || step.proposals == 0 {
            continue;
        }
        let k = step.proposals;
        let prefix = |i: usize| {
            if i == leader {
                k
            } else {
                step.logged.get(i).map_or(k, |&n| n.min(k))
            }
        };
        // Proposals a quorum of participants logged are committed; observers hear of those.
        let mut by_participants: Vec<u32> = synced
            .iter()
            .filter(|&&i| is_participant(i))
            .map(|&i| prefix(i))
            .collect();
        by_participants.sort_unstable_by(|a, b| b.cmp(a));
        let committed = by_participants[quorum - 1];
        for &i in &synced {
            let n = if is_participant(i) {
                prefix(i)
            } else {
                prefix(i).min(committed)
            };
            let txns = (1..=u64::from(n)).map(|c| Zxid::new(epoch, c));
            disks[i].log.extend(txns);
        }
    }

    let committed = committed_prefix(cluster, members, &disks, quorum);
    let servers = members
        .iter()
        .zip(&disks)
        .filter(|(_, d)| d.accepted_epoch > 0)
        .map(|(&id, d)| ServerInit {
            id,
            accepted_epoch: d.accepted_epoch,
            current_epoch: d.current_epoch,
            log: d.log.clone(),
        })
        .collect();
    Durable { servers, committed }
}

/// The last zxid of the longest run of logged txns, in zxid order, that a quorum of
/// participants each hold.
fn committed_prefix(
    cluster: &Cluster,
    members: &[ServerId],
    disks: &[Disk],
    quorum: usize,
) -> Option<Zxid> {
    let mut holders: BTreeMap<Zxid, usize> = BTreeMap::new();
    for (i, d) in disks.iter().enumerate() {
        let voter = cluster.participants.contains(&members[i]);
        for z in &d.log {
            *holders.entry(*z).or_default() += usize::from(voter);
        }
    }
    holders
        .iter()
        .take_while(|(_, n)| **n >= quorum)
        .last()
        .map(|(z, _)| *z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(participants: u8, observers: u8) -> Cluster {
        Cluster {
            participants: (1..=participants).map(ServerId).collect(),
            observers: (participants + 1..=participants + observers)
                .map(ServerId)
                .collect(),
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            committed: None,
            snap_count: 100,
            initial_zxid_counter: 0,
        }
    }

    fn init(d: &Durable, id: u8) -> &ServerInit {
        d.servers
            .iter()
            .find(|s| s.id == ServerId(id))
            .expect("server")
    }

    #[test]
    fn the_zk_1419_state_is_an_epoch_that_synced_only_the_low_ids() {
        let past = [
            Epoch {
                discovered: 0b11111,
                synced: 0b11111,
                proposals: 5,
                logged: vec![],
            },
            Epoch {
                discovered: 0b00111,
                synced: 0b00001,
                proposals: 3,
                logged: vec![],
            },
        ];
        let d = play(&cluster(5, 0), &past);
        let log: Vec<Zxid> = (1..=5).map(|c| Zxid::new(1, c)).collect();
        // s3 is the best of s1-s3 (same zxid, highest id) and leads epoch 2; s1 synced too,
        // but two of five is no quorum, so nothing is proposed.
        for (id, accepted, current) in [(1, 2, 2), (2, 2, 1), (3, 2, 2), (4, 1, 1), (5, 1, 1)] {
            let s = init(&d, id);
            assert_eq!(
                (s.accepted_epoch, s.current_epoch),
                (accepted, current),
                "s{id}"
            );
            assert_eq!(s.log, log, "s{id}");
        }
        assert_eq!(d.committed, Some(Zxid::new(1, 5)));
    }

    #[test]
    fn followers_log_prefixes_observers_only_what_is_committed() {
        let past = [Epoch {
            discovered: 0b11111,
            synced: 0b11111,
            proposals: 4,
            // s4 leads (same empty history, highest id) and logs all four; s1 logs 1, s2 2,
            // s3 none, and the observer s5 would log 4 but hears only of committed ones.
            logged: vec![1, 2, 0, 0, 4],
        }];
        let d = play(&cluster(4, 1), &past);
        let counters = |id| {
            init(&d, id)
                .log
                .iter()
                .map(|z| z.counter())
                .collect::<Vec<_>>()
        };
        assert_eq!(counters(4), [1, 2, 3, 4]);
        assert_eq!(counters(1), [1]);
        assert_eq!(counters(2), [1, 2]);
        assert_eq!(counters(3), Vec::<u64>::new());
        // s4, s2, s1 hold 1:1 (a quorum of 3 of 4); 1:2 only s4 and s2.
        assert_eq!(counters(5), [1]);
        assert_eq!(d.committed, Some(Zxid::new(1, 1)));
    }

    #[test]
    fn a_leader_without_a_quorum_syncs_no_one_and_the_next_takes_the_best_history() {
        let past = [
            Epoch {
                discovered: 0b111,
                synced: 0b111,
                proposals: 3,
                logged: vec![3, 1, 3],
            },
            // s1 alone: it writes acceptedEpoch 2 and nothing else.
            Epoch {
                discovered: 0b001,
                synced: 0b001,
                proposals: 2,
                logged: vec![],
            },
            // s2 and s3: s3 has 1:3, so it leads epoch 3 and s2 takes its history.
            Epoch {
                discovered: 0b110,
                synced: 0b110,
                proposals: 1,
                logged: vec![0, 0],
            },
        ];
        let d = play(&cluster(3, 0), &past);
        assert_eq!(
            (init(&d, 1).accepted_epoch, init(&d, 1).current_epoch),
            (2, 1)
        );
        assert_eq!(init(&d, 1).log.len(), 3);
        assert_eq!(init(&d, 2).accepted_epoch, 3);
        assert_eq!(init(&d, 2).log.last(), Some(&Zxid::new(1, 3)));
        assert_eq!(init(&d, 3).log.last(), Some(&Zxid::new(3, 1)));
        // 1:1-1:3 are on all three; 3:1 only on the leader.
        assert_eq!(d.committed, Some(Zxid::new(1, 3)));
    }

    #[test]
    fn every_past_gives_a_valid_scenario() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..300 {
            let c = cluster(rng.gen_range(1..=7), rng.gen_range(0..=2));
            let past: Vec<Epoch> = (0..rng.gen_range(0..=4))
                .map(|_| Epoch {
                    discovered: rng.gen(),
                    synced: rng.gen(),
                    proposals: rng.gen_range(0..=4),
                    logged: (0..9).map(|_| rng.gen_range(0..=4)).collect(),
                })
                .collect();
            let d = play(&c, &past);
            let mut sc = scenario::parse(
                "name = \"p\"\n[cluster]\nservers = 1\n",
                std::path::Path::new("p.toml"),
            )
            .expect("valid");
            sc.cluster = Cluster {
                committed: d.committed,
                ..c
            };
            sc.servers = d.servers;
            let text = scenario::to_toml(&sc);
            scenario::parse(&text, std::path::Path::new("past.toml"))
                .unwrap_or_else(|e| panic!("{past:?}: {e}\n{text}"));
        }
    }
}
