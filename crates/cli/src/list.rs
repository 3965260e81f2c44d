//! `sim list scenarios|invariants|bugs`.

use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum What {
    Scenarios,
    Invariants,
    Bugs,
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
                println!("{:<22} {}", b.name(), b.description());
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
                    Ok(sc) => println!("{:<48} {}", f.display(), sc.description),
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
