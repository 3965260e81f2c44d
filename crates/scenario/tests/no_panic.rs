//! `parse` must answer every input with `Ok` or `Err`, never a panic: scenario files are user
//! input, and `sim fuzz` and `sim shrink` feed it machine-made ones.

use proptest::prelude::*;
use std::path::Path;

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
];

fn path() -> &'static Path {
    Path::new("/nonexistent-zabsim-fuzz/scenario.toml")
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
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
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

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
}

#[test]
fn the_unmutated_example_is_valid() {
    scenario::parse(EXAMPLE, path()).unwrap();
}
