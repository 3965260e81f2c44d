//! Sequential znode names: the server appends the parent's cversion as ten digits, and the
//! recipes order contenders by that number, not by the whole name (names carry different
//! session prefixes, so a plain sort would order them by session).

/// The sequence number a sequential znode's name or path ends with.
pub fn sequence_of(name: &str) -> Option<u64> {
    let digits = name.len().checked_sub(10).and_then(|at| name.get(at..))?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Children that carry a sequence number, ordered by it (names without one are skipped: they
/// are not contenders).
pub fn by_sequence(children: &[String]) -> Vec<(u64, String)> {
    let mut seq: Vec<(u64, String)> = children
        .iter()
        .filter_map(|c| sequence_of(c).map(|n| (n, c.clone())))
        .collect();
    seq.sort();
    seq
}

/// The child with the largest sequence number below `mine`'s: the only one a contender
/// watches, so that one departure wakes one client instead of the whole herd.
pub fn predecessor(children: &[String], mine: &str) -> Option<String> {
    let own = sequence_of(mine)?;
    by_sequence(children)
        .into_iter()
        .rfind(|(n, _)| *n < own)
        .map(|(_, name)| name)
}

/// The last path component.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ten_digit_suffix_is_the_sequence_number() {
        assert_eq!(sequence_of("/app/ids/id-0000000042"), Some(42));
        assert_eq!(sequence_of("x-1a-0000000000"), Some(0));
        assert_eq!(sequence_of("/app/ids/id-00000042"), None);
        assert_eq!(sequence_of("/app/ids/id-00000000x2"), None);
        assert_eq!(sequence_of("short"), None);
        assert_eq!(sequence_of("/kv-3"), None);
    }

    #[test]
    fn the_predecessor_is_chosen_by_number_not_by_name() {
        let children: Vec<String> = [
            "guid-ff-n_0000000001",
            "guid-01-n_0000000004",
            "guid-aa-n_0000000002",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            predecessor(&children, "guid-01-n_0000000004").as_deref(),
            Some("guid-aa-n_0000000002")
        );
        assert_eq!(predecessor(&children, "guid-ff-n_0000000001"), None);
        assert_eq!(base_name("/app/lock/x-1-0000000003"), "x-1-0000000003");
    }
}
