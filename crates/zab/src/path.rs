//! A znode path, shared rather than copied.
//!
//! One path travels far in a run: from the client's request to the leader, into the txn, to
//! every learner's log, disk and tree, into the watch tables and the triggers a txn fires, and
//! into the checkers' indexes. ZooKeeper serializes it at each hop; a simulation only needs
//! the same text everywhere, so a path is an immutable, reference-counted string and each hop
//! costs a counter increment instead of an allocation.

use serde::Serialize;
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A znode's full path ("/app/lock-0000000003"), compared, ordered and hashed as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Path(Arc<str>);

impl Path {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Path {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Path {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a map keyed by `Path` be searched with a `&str`.
impl Borrow<str> for Path {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Path {
    fn from(s: &str) -> Path {
        Path(Arc::from(s))
    }
}

impl From<String> for Path {
    fn from(s: String) -> Path {
        Path(Arc::from(s))
    }
}

impl From<&String> for Path {
    fn from(s: &String) -> Path {
        Path(Arc::from(s.as_str()))
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0.to_string()
    }
}

impl PartialEq<str> for Path {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Path {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Path {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<Path> for &str {
    fn eq(&self, other: &Path) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Path> for str {
    fn eq(&self, other: &Path) -> bool {
        self == &*other.0
    }
}

/// As the text would print: traces and messages read the same as with a plain string.
impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn clones_share_the_text_and_compare_as_text() {
        let a = Path::from("/app/b");
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "/app/b");
        let before = Path::from("/app/a");
        assert!(before < a);
        assert_eq!(format!("{a} {a:?}"), "/app/b \"/app/b\"");
        let mut m = BTreeMap::new();
        m.insert(a, 1);
        assert_eq!(m.get("/app/b"), Some(&1));
    }
}
