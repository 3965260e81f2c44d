//! `sim fuzz --swarm --guided`: coverage-guided draws. The sweep runs in generations of
//! [`GENERATION`] runs. The first generation is plain swarm seeds; after each generation, a
//! run that reached a situation few runs have reached so far, or reached one as many times as
//! few runs have (counts in AFL's buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128 and more),
//! joins the corpus, and half of the next generation are mutants of corpus runs (their
//! configuration changed a little, see `sim::swarm::draw_mutated`), the other half the plain
//! seeds that come next. The counts matter because a bug often needs a situation over and
//! over (many TRUNC syncs, say, before one lines up with a slow disk), and a run that reached
//! it more often than the others is the one to vary. Which run
//! is a mutant of which is decided from the results of whole generations in order, so the
//! sweep is the same whatever `--jobs` says, and every mutant is a pure function of its
//! seed and its changes: `sim run SCENARIO --swarm --seed N --mutate A,B` reruns it.

use rand::Rng;
use sim::Coverage;

/// Runs per generation: the corpus is updated between generations.
pub(crate) const GENERATION: usize = 64;
/// At most this many runs are kept to mutate.
const CORPUS: usize = 256;
/// A situation (or a count of it) reached by at most this share of the runs so far is rare.
const RARE: f64 = 0.02;
/// Hit-count buckets per situation.
const BUCKETS: usize = 8;

/// Which of [`BUCKETS`] a situation's count falls in.
fn bucket(count: u32) -> usize {
    match count {
        0..=3 => count.saturating_sub(1) as usize,
        4..=7 => 3,
        8..=15 => 4,
        16..=31 => 5,
        32..=127 => 6,
        _ => 7,
    }
}

/// What a run reached, as features: each situation with the bucket of its count.
fn features(c: &Coverage) -> impl Iterator<Item = usize> + '_ {
    c.reached().map(|(i, n)| i * BUCKETS + bucket(n))
}

/// One run of a sweep: a scenario, a seed, and the changes made to its swarm draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    pub scenario: usize,
    pub seed: u64,
    pub mutations: Vec<u64>,
}

/// A kept run, and the rarity of the rarest situation it reached when it was kept.
struct Kept {
    job: Job,
    rarity: u64,
}

pub(crate) struct Guide {
    /// Per feature (situation and count bucket), how many runs reached it so far.
    reached: Vec<u64>,
    runs: u64,
    corpus: Vec<Kept>,
    /// The plain seeds, in order, and where the next one is.
    plain: Vec<(usize, u64)>,
    next_plain: usize,
    generation: u64,
    /// The sweep's first seed: with the generation, what seeds the choice of mutants.
    base_seed: u64,
    /// Runs left to give out.
    left: usize,
}

impl Guide {
    /// A sweep of as many runs as `plain` has seeds.
    pub(crate) fn new(plain: Vec<(usize, u64)>, base_seed: u64) -> Guide {
        let budget = plain.len();
        Guide {
            reached: vec![0; sim::coverage::situations().len() * BUCKETS],
            runs: 0,
            corpus: Vec::new(),
            plain,
            next_plain: 0,
            generation: 0,
            base_seed,
            left: budget,
        }
    }

    /// The next generation's runs; empty once the budget is spent.
    pub(crate) fn next_generation(&mut self) -> Vec<Job> {
        let n = GENERATION.min(self.left);
        let mut rng = sim::rng::stream(
            self.base_seed ^ self.generation.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            8,
        );
        let mut jobs = Vec::with_capacity(n);
        for _ in 0..n {
            let mutant = !self.corpus.is_empty() && rng.gen_bool(0.5);
            if mutant || self.next_plain >= self.plain.len() {
                if self.corpus.is_empty() {
                    break;
                }
                // Rarer finds are picked more often: weight 1 / (runs that shared it).
                let total: f64 = self.corpus.iter().map(|k| 1.0 / k.rarity as f64).sum();
                let mut x = rng.gen_range(0.0..total);
                let mut parent = &self.corpus[0];
                for k in &self.corpus {
                    x -= 1.0 / k.rarity as f64;
                    parent = k;
                    if x <= 0.0 {
                        break;
                    }
                }
                let mut job = parent.job.clone();
                job.mutations.push(rng.gen_range(0..1_000_000));
                jobs.push(job);
            } else {
                let (scenario, seed) = self.plain[self.next_plain];
                self.next_plain += 1;
                jobs.push(Job {
                    scenario,
                    seed,
                    mutations: Vec::new(),
                });
            }
        }
        self.left -= jobs.len();
        self.generation += 1;
        jobs
    }

    /// Counts a finished generation (what each of its jobs reached, in the order of the jobs)
    /// and keeps the runs that reached a rare situation.
    pub(crate) fn learn(&mut self, jobs: &[Job], reached: &[&Coverage]) {
        for r in reached {
            for f in features(r) {
                self.reached[f] += 1;
            }
        }
        self.runs += reached.len() as u64;
        let rare_at = ((self.runs as f64 * RARE) as u64).max(1);
        for (job, r) in jobs.iter().zip(reached) {
            let rarest = features(r)
                .map(|f| self.reached[f])
                .min()
                .unwrap_or(u64::MAX);
            if rarest <= rare_at {
                self.corpus.push(Kept {
                    job: job.clone(),
                    rarity: rarest,
                });
            }
        }
        if self.corpus.len() > CORPUS {
            // Keep the rarest finds, the earliest among equals.
            self.corpus.sort_by_key(|k| k.rarity);
            self.corpus.truncate(CORPUS);
        }
    }
}

/// ` --swarm`, and ` --mutate 17,203` for a mutant: what a printed command adds to rerun a
/// swarm run.
pub(crate) fn swarm_flags(mutations: &[u64]) -> String {
    if mutations.is_empty() {
        " --swarm".to_string()
    } else {
        format!(" --swarm --mutate {}", mutations_arg(mutations))
    }
}

/// `17,203`: the changes of a mutant as `--mutate` takes them.
pub(crate) fn mutations_arg(mutations: &[u64]) -> String {
    let list: Vec<String> = mutations.iter().map(u64::to_string).collect();
    list.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(pairs: &[(usize, u32)]) -> Coverage {
        Coverage::from_reached(pairs).expect("valid pairs")
    }

    fn job(seed: u64) -> Job {
        Job {
            scenario: 0,
            seed,
            mutations: Vec::new(),
        }
    }

    #[test]
    fn counts_fall_in_afl_buckets() {
        let buckets: Vec<usize> = [1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, 10_000]
            .into_iter()
            .map(bucket)
            .collect();
        assert_eq!(buckets, [0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]);
    }

    #[test]
    fn a_run_that_reached_a_situation_more_often_than_the_others_is_kept() {
        let mut guide = Guide::new((0..200).map(|s| (0, s)).collect(), 0);
        let jobs: Vec<Job> = (0..100).map(job).collect();
        // Every run reaches situations 0 and 1 once; run 7 reaches 1 forty times.
        let common = coverage(&[(0, 1), (1, 1)]);
        let many = coverage(&[(0, 1), (1, 40)]);
        let reached: Vec<&Coverage> = (0..100)
            .map(|i| if i == 7 { &many } else { &common })
            .collect();
        guide.learn(&jobs, &reached);
        let kept: Vec<u64> = guide.corpus.iter().map(|k| k.job.seed).collect();
        assert_eq!(kept, [7]);
        // The next generation has mutants, each of the kept run.
        let next = guide.next_generation();
        let mutants: Vec<&Job> = next.iter().filter(|j| !j.mutations.is_empty()).collect();
        assert!(!mutants.is_empty());
        assert!(mutants
            .iter()
            .all(|j| j.seed == 7 && j.mutations.len() == 1));
    }

    #[test]
    fn a_situation_every_run_reaches_keeps_nothing() {
        let mut guide = Guide::new((0..200).map(|s| (0, s)).collect(), 0);
        let jobs: Vec<Job> = (0..100).map(job).collect();
        let common = coverage(&[(0, 3)]);
        guide.learn(&jobs, &vec![&common; 100]);
        assert!(guide.corpus.is_empty());
        assert!(guide
            .next_generation()
            .iter()
            .all(|j| j.mutations.is_empty()));
    }
}
