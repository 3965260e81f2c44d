//! One server's watch tables (ZooKeeper's `WatchManager`, one per table): which connected
//! clients asked to hear about which path. Watches are one-time: firing removes them.
//!
//! ZooKeeper keeps data and child tables on the server and tells exists watches apart only on
//! the client; a third table for exists on a missing node says the same thing without the
//! client's help.

use crate::client_api::{EventType, WatchKind};
use crate::ids::ClientId;
use crate::path::Path;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WatchManager {
    data: BTreeMap<Path, BTreeSet<ClientId>>,
    exist: BTreeMap<Path, BTreeSet<ClientId>>,
    child: BTreeMap<Path, BTreeSet<ClientId>>,
}

impl WatchManager {
    fn table(&mut self, kind: WatchKind) -> &mut BTreeMap<Path, BTreeSet<ClientId>> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exist => &mut self.exist,
            WatchKind::Child => &mut self.child,
        }
    }

    pub(crate) fn add(&mut self, kind: WatchKind, path: &Path, client: ClientId) {
        self.table(kind)
            .entry(path.clone())
            .or_default()
            .insert(client);
    }

    /// `triggerWatch`: removes and returns the clients watching `path` in the tables this
    /// event concerns. A client in two of them (data and child watches on a deleted node)
    /// hears of it once, as ZooKeeper suppresses the second delivery.
    pub(crate) fn trigger(&mut self, event: EventType, path: &str) -> BTreeSet<ClientId> {
        let kinds: &[WatchKind] = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                &[WatchKind::Data, WatchKind::Exist]
            }
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Exist, WatchKind::Child],
            EventType::NodeChildrenChanged => &[WatchKind::Child],
        };
        let mut fired = BTreeSet::new();
        for kind in kinds {
            if let Some(clients) = self.table(*kind).remove(path) {
                fired.extend(clients);
            }
        }
        fired
    }

    /// A connection closed: its watches go with it.
    pub(crate) fn remove_client(&mut self, client: ClientId) {
        for kind in [WatchKind::Data, WatchKind::Exist, WatchKind::Child] {
            let table = self.table(kind);
            table.retain(|_, clients| {
                clients.remove(&client);
                !clients.is_empty()
            });
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = WatchManager::default();
    }

    /// Whether `client` watches `path` in `kind`'s table.
    #[cfg(test)]
    pub(crate) fn has(&self, kind: WatchKind, path: &str, client: ClientId) -> bool {
        let table = match kind {
            WatchKind::Data => &self.data,
            WatchKind::Exist => &self.exist,
            WatchKind::Child => &self.child,
        };
        table.get(path).is_some_and(|c| c.contains(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: ClientId = ClientId(1);
    const C2: ClientId = ClientId(2);

    #[test]
    fn each_kind_fires_once_for_its_events() {
        let mut w = WatchManager::default();
        w.add(WatchKind::Data, &Path::from("/a"), C1);
        w.add(WatchKind::Exist, &Path::from("/b"), C2);
        w.add(WatchKind::Child, &Path::from("/"), C1);
        assert!(w.trigger(EventType::NodeChildrenChanged, "/a").is_empty());
        assert_eq!(
            w.trigger(EventType::NodeDataChanged, "/a"),
            BTreeSet::from([C1])
        );
        assert!(
            w.trigger(EventType::NodeDataChanged, "/a").is_empty(),
            "a watch fires once"
        );
        assert!(w.trigger(EventType::NodeCreated, "/").is_empty());
        assert_eq!(
            w.trigger(EventType::NodeCreated, "/b"),
            BTreeSet::from([C2])
        );
        assert_eq!(
            w.trigger(EventType::NodeChildrenChanged, "/"),
            BTreeSet::from([C1])
        );
        assert_eq!(w, WatchManager::default());
    }

    #[test]
    fn a_delete_reaches_data_and_child_watchers_once() {
        let mut w = WatchManager::default();
        w.add(WatchKind::Data, &Path::from("/a"), C1);
        w.add(WatchKind::Child, &Path::from("/a"), C1);
        w.add(WatchKind::Child, &Path::from("/a"), C2);
        assert_eq!(
            w.trigger(EventType::NodeDeleted, "/a"),
            BTreeSet::from([C1, C2])
        );
        assert_eq!(w, WatchManager::default());
    }

    #[test]
    fn a_closed_connection_drops_its_watches() {
        let mut w = WatchManager::default();
        w.add(WatchKind::Data, &Path::from("/a"), C1);
        w.add(WatchKind::Data, &Path::from("/a"), C2);
        w.add(WatchKind::Child, &Path::from("/a"), C1);
        w.remove_client(C1);
        assert!(!w.has(WatchKind::Data, "/a", C1));
        assert!(w.has(WatchKind::Data, "/a", C2));
        assert_eq!(
            w.trigger(EventType::NodeDeleted, "/a"),
            BTreeSet::from([C2])
        );
    }
}
