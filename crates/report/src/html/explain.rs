//! The invariants' explanations, taken from docs/invariants.md when the binary is built, so
//! the report explains a violation in the same words as the documentation and cannot drift
//! from it. The client-visible invariants came after that table; until it has their rows,
//! the report says what their checkers (crates/check) watch in its own words below.

use super::escape::esc;

const DOC: &str = include_str!("../../../../docs/invariants.md");

/// What the checker watches and what breaks the invariant, for the checkers the table in
/// docs/invariants.md does not list yet. A row there takes precedence.
const CLIENT_INVARIANTS: [(&str, &str, &str); 5] = [
    (
        "linearizable-writes",
        "writes answered OK (create, delete, setData, closeSession) with the zxid and request \
         the leader proposed for each, every server's deliveries at those zxids, and the longest \
         delivered history at the end",
        "a write acknowledged before another was submitted has the higher zxid, a server \
         delivers another txn at an acknowledged write's zxid, or the history at the end has \
         passed an acknowledged write's zxid without it",
    ),
    (
        "session-order",
        "each `CLIENT_REPLY` as it reaches its client, against the requests the client still \
         has on the wire and the highest zxid its session has seen, across reconnects",
        "a reply answers any request but the oldest one outstanding, or carries a zxid below \
         one the session already saw (a read going back in time, after a failover too)",
    ),
    (
        "ephemeral-cleanup",
        "committed `closeSession` txns (the client's own or the leader's expiry) and \
         ephemeral creates as servers deliver them, and at the end every running server's \
         ephemeral znodes",
        "a server still holds an ephemeral of a session after delivering its closeSession, \
         delivers a create of one after it, or at the end holds one of a closed session or of \
         a client crashed longer ago than its session timeout allows",
    ),
    (
        "watch-order",
        "watching reads answered OK, the first committed txn after each that fires the \
         watch, the watch events reaching the client and its later answers",
        "the client gets an answer at or past the zxid of the txn that fired a watch before it \
         gets that watch's event",
    ),
    (
        "recipe-safety",
        "what the recipes tell their application (`Leading`, `LockAcquired`, ids, queue items, \
         configuration versions), which clients are crashed, paused or without a live session, \
         and the tokens the protected resource accepts",
        "two clients that could act (up, not paused, session live) both lead or both hold the \
         lock, an id is handed out twice, an item is consumed twice or never produced, a \
         configuration version goes back, or the resource accepts a token older than one it \
         already accepted (a deposed leader acting after its successor)",
    ),
];

/// What the checker watches and what breaks the invariant, from the invariant's table row.
pub fn explanation(name: &str) -> Option<(&'static str, &'static str)> {
    let key = format!("| `{name}` |");
    if let Some(row) = DOC.lines().find(|l| l.starts_with(&key)) {
        let mut cells = row.trim_matches('|').split(" | ").skip(1).map(str::trim);
        return Some((cells.next()?, cells.next()?));
    }
    CLIENT_INVARIANTS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, watches, breaks)| (*watches, *breaks))
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
        let (_, breaks) = explanation("recipe-safety").unwrap();
        // docs/invariants.md has a row for it, so the page uses the doc's words.
        assert!(breaks.contains("the resource accepting a token older than one it accepted"));
        for (name, _, _) in CLIENT_INVARIANTS {
            assert!(
                check::invariant(name).is_some(),
                "{name} is an invariant of the check crate"
            );
        }
        assert_eq!(cell_html("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
    }
}
