//! The client's side of the watch tables (ZooKeeper's ZKWatchManager): which paths it asked
//! to be told about, so that it can hand each firing to the application once and re-register
//! the ones still armed after a reconnect.

use crate::client_api::{ClientOp, EventType, KeeperError, OpResult, Reply, WatchedEvent};
use crate::path::Path;
use std::collections::BTreeSet;

/// Registered watches by table. BTreeSets keep SetWatches deterministic and sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watches {
    pub data: BTreeSet<Path>,
    pub exist: BTreeSet<Path>,
    pub child: BTreeSet<Path>,
}

impl Watches {
    /// Records the watch a read set, once its answer arrives. ZooKeeper registers on the reply,
    /// not on the request, because the server only arms a watch for a read that succeeded,
    /// except exists on a missing node, which arms an exist watch.
    pub fn register(&mut self, request: &ClientOp, result: &OpResult) {
        match (request, result) {
            (ClientOp::GetData { path, watch: true }, Ok(Reply::Data { .. }))
            | (ClientOp::Exists { path, watch: true }, Ok(Reply::Exists { stat: Some(_) })) => {
                self.data.insert(path.clone());
            }
            (ClientOp::Exists { path, watch: true }, Ok(Reply::Exists { stat: None }))
            | (ClientOp::Exists { path, watch: true }, Err(KeeperError::NoNode)) => {
                self.exist.insert(path.clone());
            }
            (ClientOp::GetChildren { path, watch: true }, Ok(Reply::Children { .. })) => {
                self.child.insert(path.clone());
            }
            _ => {}
        }
    }

    /// Removes the watches `event` fires and says whether any did: a watch is one-time, so
    /// the application hears of a firing only if it had a watch armed for it.
    pub fn trigger(&mut self, event: &WatchedEvent) -> bool {
        let path = &event.path;
        match event.kind {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                let data = self.data.remove(path);
                let exist = self.exist.remove(path);
                data || exist
            }
            EventType::NodeChildrenChanged => self.child.remove(path),
            EventType::NodeDeleted => {
                let data = self.data.remove(path);
                let exist = self.exist.remove(path);
                let child = self.child.remove(path);
                data || exist || child
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.exist.is_empty() && self.child.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Watches::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_api::Stat;
    use crate::ids::Zxid;

    fn fired(kind: EventType, path: &str) -> WatchedEvent {
        WatchedEvent {
            kind,
            path: path.into(),
            zxid: Zxid(1),
        }
    }

    #[test]
    fn exists_on_a_missing_node_arms_an_exist_watch_and_creation_fires_it_once() {
        let mut w = Watches::default();
        let req = ClientOp::Exists {
            path: "/a".into(),
            watch: true,
        };
        w.register(&req, &Ok(Reply::Exists { stat: None }));
        assert!(w.exist.contains("/a") && w.data.is_empty());
        assert!(w.trigger(&fired(EventType::NodeCreated, "/a")));
        assert!(!w.trigger(&fired(EventType::NodeCreated, "/a")));
        assert!(w.is_empty());
    }

    #[test]
    fn failed_or_unwatched_reads_arm_nothing() {
        let mut w = Watches::default();
        let get = ClientOp::GetData {
            path: "/a".into(),
            watch: true,
        };
        w.register(&get, &Err(KeeperError::NoNode));
        w.register(&get, &Err(KeeperError::ConnectionLoss));
        let plain = ClientOp::GetData {
            path: "/b".into(),
            watch: false,
        };
        let data = Reply::Data {
            data: 1,
            stat: Stat::default(),
        };
        w.register(&plain, &Ok(data));
        assert!(w.is_empty());
    }

    #[test]
    fn deletion_fires_data_and_child_watches_but_a_data_change_leaves_child_watches() {
        let mut w = Watches::default();
        w.data.insert("/a".into());
        w.child.insert("/a".into());
        assert!(w.trigger(&fired(EventType::NodeDataChanged, "/a")));
        assert!(w.child.contains("/a"));
        assert!(w.trigger(&fired(EventType::NodeDeleted, "/a")));
        assert!(w.is_empty());
    }
}
