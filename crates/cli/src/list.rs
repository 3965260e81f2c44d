//! `sim list scenarios|invariants|bugs`.

use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum What {
    Scenarios,
    Invariants,
    Bugs,
    Versions,
}

pub fn list(what: What, dir: &Path) -> u8 {
    match what {
        What::Invariants => {
            let checked = check::checked_invariants();
            for i in check::INVARIANTS {
                let kind = match i.kind {
                    check::Kind::Safety => "safety",
                    check::Kind::Liveness => "liveness",
                };
                let status = if checked.contains(&i.name) {
                    ""
                } else {
                    "  (not checked yet)"
                };
                println!("{:<22} {:<9} {}{}", i.name, kind, i.meaning, status);
            }
            0
        }
        What::Bugs => {
            for b in zab::Bug::ALL {
                let carried: Vec<&str> = b.carried_by().iter().map(|v| v.name()).collect();
                let carried = if carried.is_empty() {
                    "in no modelled release".to_string()
                } else {
                    format!("in {}", carried.join(", "))
                };
                println!("{:<22} {:<26} {}", b.name(), carried, b.description());
            }
            0
        }
        What::Versions => {
            for v in zab::ZkVersion::ALL {
                let default = if *v == zab::ZkVersion::default() {
                    " (default)"
                } else {
                    ""
                };
                let tag = v
                    .tag()
                    .map(|t| format!(", apache/zookeeper tag {t}"))
                    .unwrap_or_default();
                println!("{}{default}: {}{tag}", v.name(), v.description());
                let carried = v.carried();
                if carried.is_empty() {
                    println!("    carries no known bug or hazard");
                }
                for b in carried.iter() {
                    println!("    {:<22} {}", b.name(), b.description());
                }
            }
            0
        }
        What::Scenarios => {
            let mut files = Vec::new();
            collect(dir, &mut files);
            if files.is_empty() {
                eprintln!("no scenarios under {}", dir.display());
                return 2;
            }
            files.sort();
            let mut bad = false;
            for f in files {
                match scenario::load(&f) {
                    Ok(sc) => println!(
                        "{}",
                        hanging(&format!("{:<48}", f.display()), &sc.description, 100)
                    ),
                    Err(e) => {
                        bad = true;
                        eprintln!("{e}");
                    }
                }
            }
            if bad {
                2
            } else {
                0
            }
        }
    }
}

/// `head` then `text` filled to `width` columns, its lines indented under the text's start
/// (descriptions are written over several lines; their own breaks do not matter here).
fn hanging(head: &str, text: &str, width: usize) -> String {
    let indent = head.chars().count() + 1;
    let mut out = format!("{head} ");
    let mut col = indent;
    for (i, word) in text.split_whitespace().enumerate() {
        let len = word.chars().count();
        if i > 0 && col + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if i > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
    }
    out.trim_end().to_string()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hanging;

    #[test]
    fn a_long_description_wraps_under_itself() {
        let text = hanging("a.toml  ", "one two\nthree four five six", 20);
        assert_eq!(
            text,
            "a.toml   one two\n         three four\n         five six"
        );
        assert_eq!(hanging("a.toml", "", 20), "a.toml");
    }
}
