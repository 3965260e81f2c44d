//! What the client-visible checkers read of a server's data tree: which ephemeral znodes each
//! session owns. Kept in one place so that the checkers depend on the tree's layout only here.

use zab::{DataTree, SessionId};

/// The parent under which the election recipe's contenders create their znodes.
pub(crate) use zab::client::ELECTION_DIR;

/// The ephemeral znodes the tree holds for `session`.
pub(crate) fn ephemerals_of(tree: &DataTree, session: SessionId) -> impl Iterator<Item = &str> {
    tree.ephemeral_paths(session)
}

/// Every ephemeral znode of the tree with its owner.
pub(crate) fn ephemerals(tree: &DataTree) -> impl Iterator<Item = (SessionId, &str)> {
    tree.all_ephemerals()
}

/// The parent of a znode path (the root is its own parent).
pub(crate) fn parent(path: &str) -> &str {
    zab::tree::parent_of(path).unwrap_or("/")
}

/// The sequence number the server appended to a sequential znode's name (its last ten
/// characters), if it has one.
pub(crate) fn sequence(path: &str) -> Option<u64> {
    let tail = path.len().checked_sub(10).and_then(|i| path.get(i..))?;
    tail.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| tail.parse().ok())
        .flatten()
}

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
