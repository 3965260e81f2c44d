//! `watch-order`: a client sees a watch event before any read result that reflects the change.
//!
//! A successful watching read (getData, exists or getChildren with `watch`) answered at zxid r
//! leaves a one-time watch on the server. The first committed txn after r that touches what it
//! watches triggers it: a create, delete or setData of the znode for data and exist watches; a
//! create or delete of a child, or the deletion of the znode itself, for child watches. A
//! closeSession counts as the deletion of each of the session's ephemerals. If that txn has
//! zxid z, the server sends the notification when it applies z, before anything it answers
//! afterwards, so every answer the client gets with a zxid of z or more must come after the
//! event. An answer at or past z first is a violation.
//!
//! One case ZooKeeper documents as a lost event is not held against it: an exist watch whose
//! znode was created and deleted again while the client was disconnected is re-registered on
//! the new server as still waiting for a create, and never fires for the first one.
//!
//! Watches end with the session (expiry, closeSession, the client crashing).
//!
//! Incremental: the committed changes are indexed by path, so a new watch finds its trigger in
//! one lookup; watches whose trigger has not committed yet wait in an index by path that each
//! committed change to that path consumes; armed watches sit in a per-client set ordered by
//! trigger, so each answer compares against the smallest only.

use crate::committed_ops::CommittedOps;
use crate::txn_map::partition_point_from_end;
use crate::znodes::parent;
use crate::{Checker, ClientEvent, Happening, HappeningKind, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{
    ClientId, ClientOp, EventType, Path, Reply, SessionId, TxnOp, WatchKind, WatchedEvent, Zxid,
};

/// Which changes trigger a watch: data and exist watches fire on any change to the znode
/// itself, child watches on changes to its children (and its deletion).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Node,
    Child,
}

impl Table {
    /// The tables whose watches an event of this type consumes.
    fn fired_by(kind: EventType) -> &'static [Table] {
        match kind {
            EventType::NodeCreated | EventType::NodeDataChanged => &[Table::Node],
            EventType::NodeDeleted => &[Table::Node, Table::Child],
            EventType::NodeChildrenChanged => &[Table::Child],
        }
    }
}

struct Watch {
    kind: WatchKind,
    /// The zxid of the answer that set it.
    registered: Zxid,
    /// The read that set it.
    by: &'static str,
    /// The first committed change after `registered` that it watches, once known.
    trigger: Option<Zxid>,
}

/// One znode's committed changes, ascending by zxid. They come in zxid order in a correct
/// run, so adding one is nearly always a push, and a list holds them in a fraction of a map's
/// memory.
struct Changes<V>(Vec<(Zxid, V)>);

impl<V> Default for Changes<V> {
    fn default() -> Self {
        Changes(Vec::new())
    }
}

impl<V> Changes<V> {
    fn insert(&mut self, z: Zxid, v: V) {
        let i = partition_point_from_end(&self.0, |(k, _)| *k < z);
        match self.0.get_mut(i) {
            Some((k, old)) if *k == z => *old = v,
            _ => self.0.insert(i, (z, v)),
        }
    }

    /// The changes after `r`.
    fn after(&self, r: Zxid) -> &[(Zxid, V)] {
        &self.0[partition_point_from_end(&self.0, |(k, _)| *k <= r)..]
    }

    fn first_after(&self, r: Zxid) -> Option<Zxid> {
        self.after(r).first().map(|(z, _)| *z)
    }
}

type WatchKey = (ClientId, Path, Table);

#[derive(Default)]
pub struct WatchOrder {
    committed: CommittedOps,
    /// Requests submitted and not yet answered.
    in_flight: BTreeMap<(ClientId, u64), ClientOp>,
    /// Committed changes of each znode: zxid, and whether the znode exists after it.
    node_changes: BTreeMap<Path, Changes<bool>>,
    /// Committed changes of each znode's children (and its own deletion).
    child_changes: BTreeMap<Path, Changes<()>>,
    /// Ephemeral znodes by owner, as committed: a closeSession deletes them.
    ephemerals: BTreeMap<SessionId, BTreeSet<Path>>,
    owners: BTreeMap<Path, SessionId>,
    watches: BTreeMap<WatchKey, Watch>,
    /// Watches whose trigger is not committed yet, by what they watch.
    unarmed: BTreeMap<(Path, Table), BTreeSet<ClientId>>,
    /// Watches with a known trigger, per client, smallest trigger first.
    armed: BTreeMap<ClientId, BTreeSet<(Zxid, Path, Table)>>,
    /// Path counts: answers compared with an armed watch, watches registered, those set
    /// after their trigger had already committed (a lagging server), and exist watches
    /// forgiven after a reconnect.
    answers_checked: u64,
    registered: u64,
    armed_at_once: u64,
    forgiven: u64,
}

impl Checker for WatchOrder {
    fn name(&self) -> &'static str {
        "watch-order"
    }

    fn interest(&self) -> Interest {
        crate::committed_ops::INTEREST.union(Interest::of(&[HappeningKind::Client]))
    }

    fn paths(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "answer checked against an armed watch",
                self.answers_checked,
            ),
            ("watch registered by a read", self.registered),
            (
                "watch set after its trigger had committed",
                self.armed_at_once,
            ),
            ("missed create forgiven after a reconnect", self.forgiven),
        ]
    }

    fn on(&mut self, h: &Happening<'_>, view: &dyn View, out: &mut Vec<Violation>) {
        for (t, op) in self.committed.follow(h, view) {
            self.committed_txn(t.zxid, op);
        }
        let Happening::Client { id, event } = h else {
            return;
        };
        let c = *id;
        match event {
            ClientEvent::Submitted { op, request, .. } => {
                self.in_flight.insert((c, *op), request.clone());
            }
            ClientEvent::Answered {
                op, zxid, result, ..
            } => {
                let request = self.in_flight.remove(&(c, *op));
                let Some(zxid) = *zxid else { return };
                self.answered(c, *op, request.as_ref(), zxid, view, out);
                let Some(request) = request else { return };
                match (&request, result) {
                    (ClientOp::CloseSession, Ok(_)) => self.end_session(c),
                    (_, Ok(reply)) => self.register(c, &request, reply, zxid),
                    _ => {}
                }
            }
            ClientEvent::Watch { event, .. } => self.fired(c, event),
            ClientEvent::Connected { .. } => self.forgive_missed_creates(c),
            ClientEvent::Expired { .. } | ClientEvent::Crashed => self.end_session(c),
            _ => {}
        }
    }
}

impl WatchOrder {
    /// Any answer at or past an armed watch's trigger, before its event, breaks the order.
    fn answered(
        &mut self,
        c: ClientId,
        op: u64,
        request: Option<&ClientOp>,
        zxid: Zxid,
        view: &dyn View,
        out: &mut Vec<Violation>,
    ) {
        let what = || match request {
            Some(r) => match r.path() {
                Some(p) => format!("{} {p}", r.name()),
                None => r.name().to_string(),
            },
            None => "operation".to_string(),
        };
        let mut counted = false;
        loop {
            let Some(first) = self.armed.get(&c).and_then(|a| a.first()).cloned() else {
                return;
            };
            if !counted {
                counted = true;
                self.answers_checked += 1;
            }
            if first.0 > zxid {
                return;
            }
            let (z, path, table) = first;
            let key = (c, path, table);
            if let Some(w) = self.watches.get(&key) {
                out.push(Violation {
                    invariant: "watch-order",
                    at_us: view.now_us(),
                    server: None,
                    message: format!(
                        "{c}'s {} (operation {op}) was answered at zxid {zxid} before the watch event for {}: the {} watch its {} set at zxid {} is triggered by the committed txn at zxid {z}, so the event must come first",
                        what(),
                        key.1,
                        kind_name(w.kind),
                        w.by,
                        w.registered
                    ),
                });
            }
            self.remove(&key);
        }
    }

    fn register(&mut self, c: ClientId, request: &ClientOp, reply: &Reply, r: Zxid) {
        let (path, kind) = match (request, reply) {
            (ClientOp::GetData { path, watch: true }, _) => (path, WatchKind::Data),
            (ClientOp::Exists { path, watch: true }, Reply::Exists { stat }) => (
                path,
                if stat.is_some() {
                    WatchKind::Data
                } else {
                    WatchKind::Exist
                },
            ),
            (ClientOp::GetChildren { path, watch: true }, _) => (path, WatchKind::Child),
            _ => return,
        };
        let table = if kind == WatchKind::Child {
            Table::Child
        } else {
            Table::Node
        };
        let key = (c, path.clone(), table);
        if self.watches.contains_key(&key) {
            // The server keeps one watch per path and connection: the older registration's
            // trigger comes first and consumes both.
            return;
        }
        self.registered += 1;
        let trigger = match table {
            Table::Node => self.node_changes.get(path).and_then(|m| m.first_after(r)),
            Table::Child => self.child_changes.get(path).and_then(|m| m.first_after(r)),
        };
        match trigger {
            Some(z) => {
                self.armed_at_once += 1;
                self.armed
                    .entry(c)
                    .or_default()
                    .insert((z, path.clone(), table));
            }
            None => {
                self.unarmed
                    .entry((path.clone(), table))
                    .or_default()
                    .insert(c);
            }
        }
        self.watches.insert(
            key,
            Watch {
                kind,
                registered: r,
                by: request.name(),
                trigger,
            },
        );
    }

    fn fired(&mut self, c: ClientId, event: &WatchedEvent) {
        for table in Table::fired_by(event.kind) {
            self.remove(&(c, event.path.clone(), *table));
        }
    }

    /// ZooKeeper's documented gap: an exist watch re-registered after a reconnect fires only
    /// if the znode exists on the new server, so a create undone while the client was away
    /// goes unnoticed.
    fn forgive_missed_creates(&mut self, c: ClientId) {
        let lo = (c, Path::from(""), Table::Node);
        let missed: Vec<WatchKey> = self
            .watches
            .range(lo..)
            .take_while(|(k, _)| k.0 == c)
            .filter(|(k, w)| {
                w.kind == WatchKind::Exist
                    && w.trigger.is_some_and(|z| {
                        self.node_changes
                            .get(&k.1)
                            .is_some_and(|m| m.after(z).iter().any(|(_, exists)| !exists))
                    })
            })
            .map(|(k, _)| k.clone())
            .collect();
        self.forgiven += missed.len() as u64;
        for k in missed {
            self.remove(&k);
        }
    }

    fn end_session(&mut self, c: ClientId) {
        let lo = (c, Path::from(""), Table::Node);
        let keys: Vec<WatchKey> = self
            .watches
            .range(lo..)
            .take_while(|(k, _)| k.0 == c)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.remove(&k);
        }
        self.armed.remove(&c);
        let reads: Vec<(ClientId, u64)> = self
            .in_flight
            .range((c, 0)..=(c, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in reads {
            self.in_flight.remove(&k);
        }
    }

    fn remove(&mut self, key: &WatchKey) {
        let Some(w) = self.watches.remove(key) else {
            return;
        };
        let (c, path, table) = key;
        match w.trigger {
            Some(z) => {
                if let Some(a) = self.armed.get_mut(c) {
                    a.remove(&(z, path.clone(), *table));
                    if a.is_empty() {
                        self.armed.remove(c);
                    }
                }
            }
            None => {
                let k = (path.clone(), *table);
                if let Some(u) = self.unarmed.get_mut(&k) {
                    u.remove(c);
                    if u.is_empty() {
                        self.unarmed.remove(&k);
                    }
                }
            }
        }
    }

    fn committed_txn(&mut self, z: Zxid, op: TxnOp) {
        match op {
            TxnOp::Create {
                path,
                ephemeral_owner,
                ..
            } => {
                if ephemeral_owner != SessionId::NONE {
                    self.ephemerals
                        .entry(ephemeral_owner)
                        .or_default()
                        .insert(path.clone());
                    self.owners.insert(path.clone(), ephemeral_owner);
                }
                self.node_changed(&path, z, true);
                let parent = self.shared(parent(&path));
                self.child_changed(&parent, z);
            }
            TxnOp::Delete { path } => self.deleted(&path, z),
            TxnOp::SetData { path, .. } => self.node_changed(&path, z, true),
            TxnOp::CloseSession { session } => {
                for path in self.ephemerals.remove(&session).unwrap_or_default() {
                    self.deleted(&path, z);
                }
            }
            TxnOp::Initial | TxnOp::CreateSession { .. } | TxnOp::Error { .. } => {}
        }
    }

    fn deleted(&mut self, path: &Path, z: Zxid) {
        if let Some(owner) = self.owners.remove(path) {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(path);
            }
        }
        self.node_changed(path, z, false);
        self.child_changed(path, z);
        let parent = self.shared(parent(path));
        self.child_changed(&parent, z);
    }

    /// The path as this checker already holds it, so that indexing a parent again costs no
    /// allocation.
    fn shared(&self, path: &str) -> Path {
        match self.child_changes.get_key_value(path) {
            Some((p, _)) => p.clone(),
            None => Path::from(path),
        }
    }

    fn node_changed(&mut self, path: &Path, z: Zxid, exists: bool) {
        match self.node_changes.get_mut(path) {
            Some(m) => m.insert(z, exists),
            None => {
                let mut m = Changes::default();
                m.insert(z, exists);
                self.node_changes.insert(path.clone(), m);
            }
        }
        self.arm(path, Table::Node, z);
    }

    fn child_changed(&mut self, path: &Path, z: Zxid) {
        match self.child_changes.get_mut(path) {
            Some(m) => m.insert(z, ()),
            None => {
                let mut m = Changes::default();
                m.insert(z, ());
                self.child_changes.insert(path.clone(), m);
            }
        }
        self.arm(path, Table::Child, z);
    }

    /// A committed change at `z` triggers the waiting watches set before it.
    fn arm(&mut self, path: &Path, table: Table, z: Zxid) {
        let k = (path.clone(), table);
        let Some(waiting) = self.unarmed.get_mut(&k) else {
            return;
        };
        let ready: Vec<ClientId> = waiting
            .iter()
            .copied()
            .filter(|c| {
                self.watches
                    .get(&(*c, path.clone(), table))
                    .is_some_and(|w| w.registered < z)
            })
            .collect();
        for c in ready {
            waiting.remove(&c);
            if let Some(w) = self.watches.get_mut(&(c, path.clone(), table)) {
                w.trigger = Some(z);
                self.armed
                    .entry(c)
                    .or_default()
                    .insert((z, path.clone(), table));
            }
        }
        if waiting.is_empty() {
            self.unarmed.remove(&k);
        }
    }
}

fn kind_name(kind: WatchKind) -> &'static str {
    match kind {
        WatchKind::Data => "data",
        WatchKind::Exist => "exist",
        WatchKind::Child => "child",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_script::{create, delete, exists, get_children, get_data, read_ok, set_data};
    use crate::script::Script;
    use zab::{CreateMode, Reply};

    /// c1 on s2 and c2 on s3; /a exists.
    fn two_clients() -> Script<WatchOrder> {
        let mut s = Script::serving(WatchOrder::default());
        s.connect(1, 2, 4000);
        s.connect(2, 3, 4000);
        s.client_write(2, create("/a", CreateMode::Persistent));
        s
    }

    fn watch_data(s: &mut Script<WatchOrder>, c: u32, path: &str) -> Zxid {
        let r = get_data(path, true);
        s.client_read(c, r.clone(), Ok(read_ok(&r)))
    }

    fn plain_read(s: &mut Script<WatchOrder>, c: u32) -> Zxid {
        let r = get_data("/a", false);
        s.client_read(c, r.clone(), Ok(read_ok(&r)))
    }

    #[test]
    fn quiet_when_events_come_before_the_answers_that_reflect_them() {
        crate::assert_fresh(&WatchOrder::default());
        let mut s = two_clients();
        watch_data(&mut s, 1, "/a");
        let r = get_children("/", true);
        s.client_read(1, r.clone(), Ok(read_ok(&r)));
        let missing = exists("/e", true);
        s.client_read(1, missing.clone(), Ok(Reply::Exists { stat: None }));
        let t = s.client_write(2, set_data("/a", 1));
        s.watch_event(1, EventType::NodeDataChanged, "/a", t.zxid);
        assert!(plain_read(&mut s, 1) >= t.zxid);
        // c2's ephemeral /e triggers c1's exist watch and child watch on /.
        let e = s.client_write(2, create("/e", CreateMode::Ephemeral));
        s.watch_event(1, EventType::NodeCreated, "/e", e.zxid);
        s.watch_event(1, EventType::NodeChildrenChanged, "/", e.zxid);
        plain_read(&mut s, 1);
        // A new data watch on /e fires when c2's session closes.
        let r = exists("/e", true);
        s.client_read(1, r.clone(), Ok(read_ok(&r)));
        let session = s.session(2);
        let closed = s.txn(TxnOp::CloseSession { session }, None);
        s.watch_event(1, EventType::NodeDeleted, "/e", closed.zxid);
        plain_read(&mut s, 1);
        assert!(s.take().is_empty());
        let registered = crate::path_count(&s.c, "watch registered by a read");
        assert_eq!(registered, 4);
        // Each event came before c1's next answer: no answer met an armed watch.
        assert_eq!(
            crate::path_count(&s.c, "answer checked against an armed watch"),
            0
        );
    }

    #[test]
    fn fires_when_a_read_reflects_a_change_before_its_watch_event() {
        let mut s = two_clients();
        let r = watch_data(&mut s, 1, "/a");
        let t = s.client_write(2, set_data("/a", 1));
        let seen = plain_read(&mut s, 1);
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            out[0].message,
            format!("c1's getData /a (operation 2) was answered at zxid {seen} before the watch event for /a: the data watch its getData set at zxid {r} is triggered by the committed txn at zxid {}, so the event must come first", t.zxid)
        );
        assert_eq!(
            crate::path_count(&s.c, "answer checked against an armed watch"),
            1
        );
        s.watch_event(1, EventType::NodeDataChanged, "/a", t.zxid);
        plain_read(&mut s, 1);
        assert!(s.take().is_empty(), "reported once");
    }

    #[test]
    fn fires_for_a_child_watch_set_on_a_lagging_server() {
        // s2 has not applied c2's create of /a/x yet when it answers c1's getChildren.
        let mut s = two_clients();
        let op = s.txn_op(2, &create("/a/x", CreateMode::Persistent));
        let t = s.propose_op(1, op, None, &[2, 3]);
        s.commit(1, &t, &[1, 3], &[3]);
        let r = get_children("/a", true);
        let at = s.client_read(1, r.clone(), Ok(read_ok(&r)));
        assert!(at < t.zxid);
        assert_eq!(
            crate::path_count(&s.c, "watch set after its trigger had committed"),
            1
        );
        s.apply(2, &t);
        s.deliver(2);
        s.client_write(1, delete("/b"));
        let out = s.take();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0]
                .message
                .starts_with("c1's delete /b (operation 2) was answered at zxid"),
            "{}",
            out[0].message
        );
        assert!(
            out[0]
                .message
                .contains("the child watch its getChildren set"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn quiet_for_a_create_undone_while_the_client_was_away() {
        let mut s = two_clients();
        let r = exists("/b", true);
        s.client_read(1, r.clone(), Ok(Reply::Exists { stat: None }));
        s.disconnect(1, &[]);
        s.client_write(2, create("/b", CreateMode::Persistent));
        s.client_write(2, delete("/b"));
        s.connect(1, 3, 4000);
        plain_read(&mut s, 1);
        assert!(s.take().is_empty());
        assert_eq!(
            crate::path_count(&s.c, "missed create forgiven after a reconnect"),
            1
        );
    }

    #[test]
    fn quiet_after_the_session_ends() {
        let mut s = two_clients();
        watch_data(&mut s, 1, "/a");
        s.client(
            1,
            ClientEvent::Expired {
                session: s.session(1),
            },
        );
        s.client_write(2, set_data("/a", 1));
        s.client_read(
            2,
            get_data("/a", false),
            Ok(read_ok(&get_data("/a", false))),
        );
        assert!(s.take().is_empty());
    }
}
