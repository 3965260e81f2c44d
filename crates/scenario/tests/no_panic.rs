//! `parse` must answer every input with `Ok` or `Err`, never a panic: scenario files are user
//! input, and `sim fuzz` and `sim shrink` feed it machine-made ones.
//!
//! Inputs: arbitrary strings, TOML-shaped strings, and the design example and every file of
//! the scenario library with lines deleted, duplicated, swapped, inserted (tables, keys,
//! unknown keys) and values replaced by out-of-range numbers and wrong types. A failure
//! shrinks and is kept in `proptest-regressions/` at the repository root; `PROPTEST_CASES`
//! sets the number of cases (default 256 per test).

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../proptest-regressions/scenario-no-panic.txt"
);

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::default()
    }
}

/// Every scenario file of the library, with its path (a `zoo_cfg` key resolves next to it).
fn library() -> &'static [(PathBuf, String)] {
    static FILES: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut files = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("scenarios/ is readable") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "toml") {
                    let text = std::fs::read_to_string(&path).expect("readable");
                    files.push((path, text));
                }
            }
        }
        files.sort();
        files
    })
}

const EXAMPLE: &str = include_str!("fixtures/design-example.toml");

/// Lines that reach deep into validation when spliced into the example.
const SNIPPETS: &[&str] = &[
    "[cluster]",
    "[[server]]",
    "[[faults]]",
    "[clients]",
    "[random]",
    "[expect]",
    "id = 2",
    "id = 255",
    "ids = [255, 1, 1]",
    "servers = 15",
    "observers = 255",
    "committed = \"1:4\"",
    "committed = \"4294967295:4294967295\"",
    "accepted_epoch = 4294967296",
    "current_epoch = 9223372036854775807",
    "log = [\"1:1-4294967295\"]",
    "log = [\"0:1\", \"1:1-100000\"]",
    "zoo_cfg = \"zoo.cfg\"",
    "zoo_cfg = \"\"",
    "on = { state = \"LEADING\", from = \"s255\", to = \"c4294967296\" }",
    "on.send = \"ACK\"",
    "target = \"c99999999999999999999\"",
    "target = -9223372036854775808",
    "groups = [[\"rest\"], [\"rest\"], []]",
    "groups = [[1, 2], [\"s3\", true]]",
    "one_way = true",
    "action = \"pause\"",
    "duration_ms = 999999999",
    "nth = 4294967296",
    "delay_ms = [9223372036854775807, -1]",
    "reset = nan",
    "crash_per_min = -inf",
    "count = 64",
    "until_ms = 1979-05-27T07:32:00Z",
    "violations = [\"progress\", \"nope\"]",
    "bugs = [\"zk-1277\"]",
    "\"quoted.key\" = { a = [[[]]] }",
    "name = \"Ünïcode\"",
    "unknown_key = 1",
    "[unknown_table]",
    "[[server]]\nid = 1\naccepted_epoch = 1\ncurrent_epoch = 2",
    "[[server]]\nid = 3\nlog = [\"2:1-3\", \"1:4\"]",
    "[[faults]]\nat_ms = 10\naction = \"partition\"\ngroups = [[\"rest\"]]",
    "[[faults]]\non = { send = \"PING\", receive = \"ACK\" }\naction = \"heal\"",
    "[[faults]]\nat_ms = 1\naction = \"crash\"\ntarget = \"observer\"\nheal_after_ms = 5",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "255",
    "256",
    "4294967295",
    "4294967296",
    "999999999",
    "1000000000",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "nan",
    "inf",
    "\"7\"",
    "[]",
    "{}",
    "true",
    "\"\"",
    "\"s0\"",
    "\"c0\"",
    "\"rest\"",
    "\"9:9-1\"",
    "[1, \"a\"]",
    "[[1, 2], [\"s99\"]]",
    "{ a = 1 }",
    "1979-05-27",
    "0.0",
    "-0.5",
    "1e308",
];

fn path() -> &'static Path {
    Path::new("/nonexistent-zabsim-fuzz/scenario.toml")
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    /// Swap a line with the next one.
    Swap(usize),
    /// Misspell the key on a line (an unknown key).
    RenameKey(usize),
    Insert(usize, &'static str),
    /// Replace the value after `=` on a line.
    Value(usize, &'static str),
    /// Cut the file at a byte, rounded down to a char boundary.
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        any::<usize>().prop_map(Mutation::Swap),
        any::<usize>().prop_map(Mutation::RenameKey),
        (any::<usize>(), proptest::sample::select(SNIPPETS))
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), proptest::sample::select(NUMBERS))
            .prop_map(|(i, s)| Mutation::Value(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for m in mutations {
        let n = lines.len().max(1);
        match *m {
            Mutation::Delete(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Mutation::Duplicate(i) if !lines.is_empty() => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::Swap(i) if lines.len() >= 2 => {
                let i = i % (lines.len() - 1);
                lines.swap(i, i + 1);
            }
            Mutation::RenameKey(i) if !lines.is_empty() => {
                let line = &mut lines[i % n];
                if let Some(eq) = line.find('=') {
                    let key_end = line[..eq].trim_end().len();
                    line.insert(key_end, 'x');
                }
            }
            Mutation::Insert(i, s) => lines.insert(i % (lines.len() + 1), s.to_owned()),
            Mutation::Value(i, v) if !lines.is_empty() => {
                let line = &mut lines[i % n];
                if let Some(eq) = line.find('=') {
                    line.truncate(eq + 1);
                    line.push(' ');
                    line.push_str(v);
                }
            }
            Mutation::Truncate(at) => {
                let mut joined = lines.join("\n");
                let mut at = at % (joined.len() + 1);
                while !joined.is_char_boundary(at) {
                    at -= 1;
                }
                joined.truncate(at);
                lines = joined.lines().map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        let _ = scenario::parse(&text, path());
    }

    #[test]
    fn toml_shaped_strings(text in "[a-z_.\\[\\]{}=\", 0-9:\n#-]{0,300}") {
        let _ = scenario::parse(&text, path());
    }

    #[test]
    fn mutated_example(mutations in proptest::collection::vec(mutation(), 1..5)) {
        let text = mutate(EXAMPLE, &mutations);
        if let Err(e) = scenario::parse(&text, path()) {
            // Whatever went wrong, the error points into the file.
            let lines = text.lines().count().max(1);
            prop_assert!(e.line.is_none_or(|l| (1..=lines + 1).contains(&l)), "{e}");
        }
    }

    #[test]
    fn mutated_library_files(
        file in any::<proptest::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let (path, original) = file.get(library());
        let text = mutate(original, &mutations);
        if let Err(e) = scenario::parse(&text, path) {
            let lines = text.lines().count().max(1);
            prop_assert!(e.line.is_none_or(|l| (1..=lines + 1).contains(&l)), "{e}\n{text}");
            prop_assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
    }
}

#[test]
fn the_library_is_found_and_valid() {
    assert!(library().len() >= 30, "{} files", library().len());
    for (path, text) in library() {
        scenario::parse(text, path).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_unmutated_example_is_valid() {
    scenario::parse(EXAMPLE, path()).unwrap();
}
