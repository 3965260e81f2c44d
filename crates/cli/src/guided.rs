//! `sim fuzz --swarm --guided`: coverage-guided draws. The sweep runs in generations of
//! [`GENERATION`] runs. The first generation is plain swarm seeds; after each generation, a
//! run that reached a situation few runs have reached so far joins the corpus, and half of
//! the next generation are mutants of corpus runs (their configuration changed a little,
//! see `sim::swarm::draw_mutated`), the other half the plain seeds that come next. Which run
//! is a mutant of which is decided from the results of whole generations in order, so the
//! sweep is the same whatever `--jobs` says, and every mutant is a pure function of its
//! seed and its changes: `sim run SCENARIO --swarm --seed N --mutate A,B` reruns it.

use rand::Rng;
use report::sweep::SeedResult;

/// Runs per generation: the corpus is updated between generations.
pub(crate) const GENERATION: usize = 64;
/// At most this many runs are kept to mutate.
const CORPUS: usize = 256;
/// A situation reached by at most this share of the runs so far is rare.
const RARE: f64 = 0.02;

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
    /// Per situation, how many runs reached it so far.
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
            reached: vec![0; sim::coverage::situations().len()],
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

    /// Counts a finished generation (`results` in the order of its jobs) and keeps the
    /// runs that reached a rare situation.
    pub(crate) fn learn(&mut self, jobs: &[Job], results: &[&SeedResult]) {
        for r in results {
            for (i, _) in r.coverage.reached() {
                self.reached[i] += 1;
            }
        }
        self.runs += results.len() as u64;
        let rare_at = ((self.runs as f64 * RARE) as u64).max(1);
        for (job, r) in jobs.iter().zip(results) {
            let rarest = r
                .coverage
                .reached()
                .map(|(i, _)| self.reached[i])
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

/// `17,203`: the changes of a mutant as `--mutate` takes them.
pub(crate) fn mutations_arg(mutations: &[u64]) -> String {
    let list: Vec<String> = mutations.iter().map(u64::to_string).collect();
    list.join(",")
}
