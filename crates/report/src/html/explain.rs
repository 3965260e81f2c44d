//! The invariants' explanations, taken from docs/invariants.md when the binary is built, so
//! the report explains a violation in the same words as the documentation and cannot drift
//! from it.

use super::escape::esc;

const DOC: &str = include_str!("../../../../docs/invariants.md");

/// What the checker watches and what breaks the invariant, from the invariant's table row.
pub fn explanation(name: &str) -> Option<(&'static str, &'static str)> {
    let key = format!("| `{name}` |");
    let row = DOC.lines().find(|l| l.starts_with(&key))?;
    let mut cells = row.trim_matches('|').split(" | ").skip(1).map(str::trim);
    Some((cells.next()?, cells.next()?))
}

/// Markdown cell text as HTML: escaped, with `code` spans kept.
pub fn cell_html(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(part))
            } else {
                esc(part).to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checked_invariant_is_explained() {
        for name in check::checked_invariants() {
            let (watches, breaks) = explanation(name).unwrap_or_else(|| panic!("{name}"));
            assert!(!watches.is_empty() && !breaks.is_empty(), "{name}");
        }
        let (_, breaks) = explanation("leadership").unwrap();
        assert!(breaks.contains("two servers establish the same epoch"));
        assert_eq!(cell_html("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
    }
}
