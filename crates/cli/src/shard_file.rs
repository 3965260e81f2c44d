//! A shard file (`sim fuzz --results PATH`): what one shard of a sweep was asked to run, one
//! line per seed it ran, and, once every seed ran, a line that proves it.
//!
//! A campaign on a batch engine (a Slurm array, a Kubernetes Indexed Job, a CI matrix) runs
//! one shard per task and gathers the files; `sim merge` turns them into the sweep's result.
//! So a file must say which sweep it belongs to (two files from different sweeps must never
//! be merged), must survive its task being killed at any moment (seeds are appended as they
//! finish, and a cut-off last line is dropped when the file is read), and must show that
//! nothing was lost between the task and the merge: the closing line counts the seeds and
//! hashes their lines in seed order, which the reader recomputes.
//!
//! Lines are JSON objects with one key each: `header`, `seed` or `end`. While the shard runs,
//! seeds come in the order threads finish them; when it ends, the file is rewritten in seed
//! order, so a shard gives the same bytes however many threads ran it and however often it
//! was resumed. Nothing in the file depends on wall time.

use report::sweep::{Recovery, SeedResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// The format's version: a reader refuses other versions rather than misread them.
pub const FORMAT: u32 = 1;

/// One scenario of the sweep, with a hash of its file's bytes: the same name and path with
/// other contents is another sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioId {
    pub name: String,
    pub path: String,
    pub hash: String,
    /// The release its seeds model (`sim::effective_version`).
    pub zk_version: String,
}

/// What the shard was asked to run. Two shards belong to one sweep when their headers are
/// equal but for `shard.0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    /// The version of the `sim` that ran it and a hash of its executable: shards of one
    /// sweep run one binary.
    pub sim_version: String,
    pub scenarios: Vec<ScenarioId>,
    /// `--seeds A..B`, B excluded.
    pub seeds: (u64, u64),
    /// `--shard K/N` (`1/1` without it).
    pub shard: (u64, u64),
    /// `--zk`, if given.
    pub zk: Option<String>,
    /// `--bug` names, as given.
    pub bugs: Vec<String>,
    pub swarm: bool,
    pub check_determinism: bool,
}

/// The seeds of `--seeds A..B` that shard K of N runs: those whose offset from A is K-1
/// modulo N, ascending.
pub fn shard_seeds((a, b): (u64, u64), (k, n): (u64, u64)) -> impl Iterator<Item = u64> {
    (a..b).filter(move |s| (s - a) % n == k - 1)
}

impl Header {
    /// The seeds this shard runs (see [`shard_seeds`]).
    pub fn seeds(&self) -> impl Iterator<Item = u64> {
        shard_seeds(self.seeds, self.shard)
    }

    /// Every (scenario, seed) the shard must run, in seed order.
    pub fn expected(&self) -> BTreeSet<(usize, u64)> {
        (0..self.scenarios.len())
            .flat_map(|sc| self.seeds().map(move |s| (sc, s)))
            .collect()
    }

    /// The differences from `other` that make them different sweeps (the shard number
    /// aside), named as the command line names them.
    pub fn sweep_differences(&self, other: &Header) -> Vec<String> {
        let mut out = Vec::new();
        let mut differ = |what: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{what}: {a} against {b}"));
            }
        };
        differ("format", self.format.to_string(), other.format.to_string());
        differ(
            "sim version",
            self.sim_version.clone(),
            other.sim_version.clone(),
        );
        let names = |h: &Header| {
            h.scenarios
                .iter()
                .map(|s| format!("{} ({}, {}, {})", s.path, s.name, s.hash, s.zk_version))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        differ("scenarios", names(self), names(other));
        differ(
            "--seeds",
            format!("{}..{}", self.seeds.0, self.seeds.1),
            format!("{}..{}", other.seeds.0, other.seeds.1),
        );
        differ(
            "shard count",
            self.shard.1.to_string(),
            other.shard.1.to_string(),
        );
        differ("--zk", format!("{:?}", self.zk), format!("{:?}", other.zk));
        differ("--bug", self.bugs.join(","), other.bugs.join(","));
        differ("--swarm", self.swarm.to_string(), other.swarm.to_string());
        differ(
            "--check-determinism",
            self.check_determinism.to_string(),
            other.check_determinism.to_string(),
        );
        out
    }
}

/// What one seed showed: the fields of [`SeedResult`], in owned form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub scenario: usize,
    pub seed: u64,
    pub passed: bool,
    pub events: u64,
    pub sim_us: u64,
    pub failures: Vec<String>,
    pub families: Vec<String>,
    pub knobs: Vec<(String, String)>,
    /// `no-faults`, `held`, `no-leader`, or the microseconds to elect after the faults.
    pub recovery: String,
    pub attributed_to: Option<String>,
    /// The protocol situations it reached: `[index, count]` pairs into the situations of the
    /// binary that ran it (one binary per sweep, see `Header::sim_version`). Absent in the
    /// files of builds before coverage existed.
    #[serde(default)]
    pub coverage: Vec<(usize, u32)>,
}

impl Record {
    pub fn of(r: &SeedResult) -> Record {
        Record {
            scenario: r.scenario,
            seed: r.seed,
            passed: r.passed,
            events: r.events,
            sim_us: r.sim_us,
            failures: r.failures.clone(),
            families: r.families.iter().map(|f| f.to_string()).collect(),
            knobs: r
                .knobs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            recovery: match r.recovery {
                Recovery::NoFaults => "no-faults".into(),
                Recovery::Held => "held".into(),
                Recovery::NoLeader => "no-leader".into(),
                Recovery::Elected(us) => us.to_string(),
            },
            attributed_to: r.attributed_to.clone(),
            coverage: r.coverage.reached().collect(),
        }
    }

    pub fn result(&self) -> Result<SeedResult, String> {
        let recovery = match self.recovery.as_str() {
            "no-faults" => Recovery::NoFaults,
            "held" => Recovery::Held,
            "no-leader" => Recovery::NoLeader,
            us => Recovery::Elected(
                us.parse()
                    .map_err(|_| format!("seed {}: bad recovery {us:?}", self.seed))?,
            ),
        };
        Ok(SeedResult {
            scenario: self.scenario,
            seed: self.seed,
            passed: self.passed,
            events: self.events,
            sim_us: self.sim_us,
            failures: self.failures.clone(),
            families: self.families.iter().map(|f| intern(f)).collect(),
            knobs: self
                .knobs
                .iter()
                .map(|(k, v)| (intern(k), v.clone()))
                .collect(),
            recovery,
            attributed_to: self.attributed_to.clone(),
            coverage: sim::Coverage::from_reached(&self.coverage).ok_or_else(|| {
                format!(
                    "seed {}: its coverage names situations this sim does not have",
                    self.seed
                )
            })?,
            // A guided sweep writes no shard file (`--guided` excludes `--results`).
            mutations: Vec::new(),
        })
    }
}

/// Fault families and knob names are `&'static str` in a [`SeedResult`]; read back from a
/// file they are kept once each for the life of the process (a few dozen names).
fn intern(s: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.get(s) {
        return n;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// The closing line: how many seeds, how many failed, and the hash of their lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub seeds: u64,
    pub failed: u64,
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Line {
    Header(Header),
    Seed(Record),
    End(End),
}

/// A line as written: compact JSON and a newline.
fn line(l: &Line) -> String {
    let mut s = serde_json::to_string(l).expect("a shard line serializes");
    s.push('\n');
    s
}

pub fn header_line(h: &Header) -> String {
    line(&Line::Header(h.clone()))
}

pub fn seed_line(r: &Record) -> String {
    line(&Line::Seed(r.clone()))
}

/// The closing line for `records`, which must be in (scenario, seed) order.
pub fn end_for(records: &[Record]) -> End {
    let mut h = sim::trace::TraceHash::default();
    for r in records {
        h.bytes(seed_line(r).as_bytes());
    }
    End {
        seeds: records.len() as u64,
        failed: records.iter().filter(|r| !r.passed).count() as u64,
        hash: format!("{:016x}", h.0),
    }
}

/// The file as a shard that ran every seed leaves it.
pub fn complete_bytes(h: &Header, records: &[Record]) -> String {
    let mut out = header_line(h);
    for r in records {
        out.push_str(&seed_line(r));
    }
    out.push_str(&line(&Line::End(end_for(records))));
    out
}

/// A shard file as read.
#[derive(Clone, Debug)]
pub struct ShardFile {
    pub header: Header,
    /// In (scenario, seed) order, each once.
    pub records: Vec<Record>,
    pub end: Option<End>,
    /// Bytes up to the last complete line: a task killed mid-write leaves a partial line
    /// after it, which `--resume` cuts off.
    pub complete_len: u64,
}

impl ShardFile {
    /// What is wrong with the file as the proof of its shard, if anything: seeds missing,
    /// seeds it was not asked to run, or a closing line that does not match its seeds.
    pub fn problems(&self) -> Vec<String> {
        let expected = self.header.expected();
        let have: BTreeSet<(usize, u64)> =
            self.records.iter().map(|r| (r.scenario, r.seed)).collect();
        let mut out = Vec::new();
        let stray: Vec<String> = have
            .difference(&expected)
            .map(|(sc, s)| format!("{sc}:{s}"))
            .collect();
        if !stray.is_empty() {
            out.push(format!(
                "holds seeds its shard does not run: {}",
                stray.join(", ")
            ));
        }
        let missing: Vec<u64> = expected
            .difference(&have)
            .map(|(_, s)| *s)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match &self.end {
            None => out.push(format!(
                "was cut off: {} of {} seeds ran, missing {} (rerun its shard with --resume)",
                have.len(),
                expected.len(),
                seed_list(&missing)
            )),
            Some(end) => {
                if !missing.is_empty() {
                    out.push(format!("misses seeds {}", seed_list(&missing)));
                }
                if *end != end_for(&self.records) {
                    out.push(
                        "its closing line does not match its seeds (the file was changed)".into(),
                    );
                }
            }
        }
        out
    }
}

/// Seeds as ranges: "3, 7..12, 40".
pub fn seed_list(seeds: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            seeds[i].to_string()
        } else {
            format!("{}..{}", seeds[i], seeds[j] + 1)
        });
        i = j + 1;
    }
    if parts.len() > 12 {
        let more = parts.len() - 12;
        parts.truncate(12);
        parts.push(format!("and {more} more ranges"));
    }
    parts.join(", ")
}

/// Reads a shard file. A last line without its newline is a write cut off by a kill and is
/// left out; any other line that does not parse is an error naming the file and line.
pub fn read(path: &Path) -> Result<ShardFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut header = None;
    let mut records: Vec<Record> = Vec::new();
    let mut end = None;
    let mut complete_len = 0u64;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        if !raw.ends_with('\n') {
            break;
        }
        let bad = |what: String| format!("{}:{n}: {what}", path.display());
        let parsed: Line =
            serde_json::from_str(raw).map_err(|e| bad(format!("not a shard file line ({e})")))?;
        match parsed {
            Line::Header(h) if n == 1 => {
                if h.format != FORMAT {
                    return Err(bad(format!(
                        "shard file format {} (this sim reads {FORMAT})",
                        h.format
                    )));
                }
                let (k, count) = h.shard;
                if k == 0 || k > count || h.seeds.0 >= h.seeds.1 || h.scenarios.is_empty() {
                    return Err(bad(format!(
                        "a header that no sweep has (shard {k}/{count}, seeds {}..{}, {} scenarios)",
                        h.seeds.0,
                        h.seeds.1,
                        h.scenarios.len()
                    )));
                }
                header = Some(h);
            }
            Line::Header(_) => return Err(bad("a second header".into())),
            _ if header.is_none() => return Err(bad("no header on the first line".into())),
            Line::Seed(_) | Line::End(_) if end.is_some() => {
                return Err(bad("a line after the closing line".into()))
            }
            Line::Seed(r) => records.push(r),
            Line::End(e) => end = Some(e),
        }
        complete_len += raw.len() as u64;
    }
    let header = header.ok_or_else(|| format!("{}: empty, no header", path.display()))?;
    records.sort_by_key(|r| (r.scenario, r.seed));
    let before = records.len();
    records.dedup_by_key(|r| (r.scenario, r.seed));
    if records.len() != before {
        return Err(format!("{}: a seed is recorded twice", path.display()));
    }
    Ok(ShardFile {
        header,
        records,
        end,
        complete_len,
    })
}

/// Appends seed lines as they come in, each flushed, so a kill loses at most the line being
/// written.
pub struct Appender {
    file: std::io::BufWriter<std::fs::File>,
}

impl Appender {
    /// A new file holding the header (`resume`: `None`), or the file of a cut-off shard
    /// truncated to its last complete line.
    pub fn open(
        path: &Path,
        header: &Header,
        resume: Option<&ShardFile>,
    ) -> std::io::Result<Appender> {
        let file = match resume {
            None => {
                let mut f = std::fs::File::create(path)?;
                f.write_all(header_line(header).as_bytes())?;
                f
            }
            Some(prev) => {
                let f = std::fs::OpenOptions::new().write(true).open(path)?;
                f.set_len(prev.complete_len)?;
                let mut f = f;
                use std::io::Seek;
                f.seek(std::io::SeekFrom::End(0))?;
                f
            }
        };
        Ok(Appender {
            file: std::io::BufWriter::new(file),
        })
    }

    pub fn append(&mut self, r: &Record) -> std::io::Result<()> {
        self.file.write_all(seed_line(r).as_bytes())?;
        self.file.flush()
    }
}

/// Rewrites a finished shard's file in seed order with its closing line, through a new file
/// renamed over the old one, so a kill now leaves either the old file or the new one.
pub fn finish(path: &Path, header: &Header, records: &[Record]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-finishing");
    std::fs::write(&tmp, complete_bytes(header, records))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(k: u64, n: u64) -> Header {
        Header {
            format: FORMAT,
            sim_version: "0.1.0".into(),
            scenarios: vec![ScenarioId {
                name: "s".into(),
                path: "s.toml".into(),
                hash: "00".into(),
                zk_version: "3.9.4".into(),
            }],
            seeds: (10, 20),
            shard: (k, n),
            zk: None,
            bugs: vec![],
            swarm: false,
            check_determinism: false,
        }
    }

    fn record(seed: u64, passed: bool) -> Record {
        Record {
            scenario: 0,
            seed,
            passed,
            events: 100 + seed,
            sim_us: 5,
            failures: if passed {
                vec![]
            } else {
                vec!["total-order".into()]
            },
            families: vec!["crash".into()],
            knobs: vec![("servers".into(), "5".into())],
            recovery: "1200".into(),
            attributed_to: None,
            coverage: vec![(0, 2), (3, 1)],
        }
    }

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("zabsim-shard-file-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn a_shard_runs_every_nth_seed_of_the_range() {
        let seeds: Vec<u64> = header(2, 3).seeds().collect();
        assert_eq!(seeds, vec![11, 14, 17]);
    }

    #[test]
    fn a_complete_file_proves_its_seeds_and_a_changed_one_does_not() {
        let h = header(2, 3);
        let records = vec![record(11, true), record(14, false), record(17, true)];
        let path = dir().join("complete.jsonl");
        finish(&path, &h, &records).expect("write");
        let f = read(&path).expect("read");
        assert_eq!(f.records, records);
        assert!(f.problems().is_empty(), "{:?}", f.problems());
        let end = f.end.expect("closed");
        assert_eq!((end.seeds, end.failed), (3, 1));

        // Flip one seed's verdict: the closing line no longer matches.
        let text = std::fs::read_to_string(&path).expect("text");
        let changed = text.replacen("\"passed\":false", "\"passed\":true", 1);
        std::fs::write(&path, changed).expect("write");
        let p = read(&path).expect("read").problems();
        assert!(p.iter().any(|p| p.contains("does not match")), "{p:?}");
    }

    #[test]
    fn a_cut_off_file_names_its_missing_seeds_and_drops_its_partial_line() {
        let h = header(1, 2);
        let path = dir().join("cut.jsonl");
        let mut text = header_line(&h);
        text.push_str(&seed_line(&record(12, true)));
        text.push_str(&seed_line(&record(10, true)));
        let full = text.len() as u64;
        text.push_str("{\"seed\":{\"scen");
        std::fs::write(&path, &text).expect("write");
        let f = read(&path).expect("read");
        assert_eq!(f.complete_len, full);
        let seeds: Vec<u64> = f.records.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, vec![10, 12]);
        let p = f.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("was cut off: 2 of 5 seeds ran, missing 14, 16, 18"),
            "{p:?}"
        );
    }

    #[test]
    fn headers_of_one_sweep_differ_only_in_the_shard_number() {
        assert!(header(1, 4).sweep_differences(&header(3, 4)).is_empty());
        let mut other = header(1, 4);
        other.bugs = vec!["zk-1154".into()];
        other.shard.1 = 8;
        let d = header(1, 4).sweep_differences(&other);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("shard count: 4 against 8"), "{d:?}");
        assert!(d[1].starts_with("--bug"), "{d:?}");
    }

    #[test]
    fn a_header_no_sweep_has_is_an_error_not_a_panic() {
        let path = dir().join("bad-shard.jsonl");
        std::fs::write(&path, header_line(&header(0, 3))).expect("write");
        let e = read(&path).expect_err("shard 0 of 3");
        assert!(
            e.contains(":1: a header that no sweep has (shard 0/3"),
            "{e}"
        );
    }

    #[test]
    fn a_seed_record_reads_back_as_the_result_it_came_from() {
        let r = record(14, false);
        let back = Record::of(&r.result().expect("valid"));
        assert_eq!(back, r);
        assert_eq!(seed_list(&[1, 2, 3, 7, 9, 10]), "1..4, 7, 9..11");
        // A file of a build with other situations is refused, not misread.
        let mut odd = record(15, true);
        odd.coverage = vec![(usize::MAX, 1)];
        assert!(odd.result().is_err());
        // A file of a build before coverage reads back with none.
        let line = seed_line(&record(16, true)).replace(r#","coverage":[[0,2],[3,1]]"#, "");
        assert!(!line.contains("coverage"), "{line}");
        let Line::Seed(old) = serde_json::from_str(line.trim()).expect("reads") else {
            panic!("a seed line: {line}");
        };
        assert!(old.coverage.is_empty());
    }
}
