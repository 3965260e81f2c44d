//! Every scenario of the library, written back as TOML, loads to the same scenario.

use std::path::{Path, PathBuf};

fn library(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            library(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

/// Fault line numbers say where a fault was written, which a rewrite changes.
fn without_lines(mut sc: scenario::Scenario) -> scenario::Scenario {
    for f in &mut sc.faults {
        f.line = 0;
    }
    sc
}

#[test]
fn the_whole_library_round_trips() {
    let mut files = Vec::new();
    library(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios"),
        &mut files,
    );
    files.sort();
    assert!(files.len() > 20);
    for path in files {
        let sc = scenario::load(&path).expect("loads");
        let text = scenario::to_toml(&sc);
        let back = scenario::parse(&text, &path).unwrap_or_else(|e| {
            panic!(
                "{}: written form does not load: {e}\n{text}",
                path.display()
            )
        });
        // The written form spells out every key, so it sets all that the file set and more.
        assert!(
            back.set_keys.is_superset(&sc.set_keys),
            "{}: {:?} against {:?}",
            path.display(),
            back.set_keys,
            sc.set_keys
        );
        assert_eq!(
            back.set_keys.len(),
            scenario::SWARM_DRAWN.len() - usize::from(sc.clients.is_none())
        );
        let (mut back, mut sc) = (without_lines(back), without_lines(sc));
        back.set_keys.clear();
        sc.set_keys.clear();
        assert_eq!(back, sc, "{}:\n{text}", path.display());
    }
}

#[test]
fn strings_with_quotes_and_newlines_survive() {
    let text = "name = \"x\"\ndescription = \"a \\\"quoted\\\" <script>\\nline\"\n[cluster]\nservers = 3\n";
    let sc = scenario::parse(text, Path::new("x.toml")).expect("valid");
    let back = scenario::parse(&scenario::to_toml(&sc), Path::new("x.toml")).expect("valid");
    assert_eq!(back.description, "a \"quoted\" <script>\nline");
}
