//! Small helpers the client-visible checkers share for znode paths: parents, sequence
//! suffixes, and listing paths in messages.

/// The parent under which the election recipe's contenders create their znodes.
pub(crate) use zab::client::ELECTION_DIR;

/// The parent of a znode path (the root is its own parent).
pub(crate) fn parent(path: &str) -> &str {
    zab::tree::parent_of(path).unwrap_or("/")
}

/// The sequence number the server appended to a sequential znode's name.
pub(crate) use zab::client::sequence_of as sequence;

/// A list of paths for messages: `/a, /b`.
pub(crate) fn list<'a>(paths: impl IntoIterator<Item = &'a str>) -> String {
    paths.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_sequences() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(parent("/app/leader_election/x"), "/app/leader_election");
        assert_eq!(sequence("/q/item-0000000042"), Some(42));
        assert_eq!(sequence("/q/item"), None);
        assert_eq!(sequence("/q/x-00000000a1"), None);
    }
}
