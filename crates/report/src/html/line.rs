//! The report's reading of one trace line.
//!
//! These types mirror what `sim::trace` writes, plus the `run` header and `outcome` footer
//! that `sim run` adds around it, but only the fields the report draws. They are kept apart
//! from the simulator's own types so that a report can be made from a trace file alone, and
//! so that an unknown or older line is skipped instead of failing the whole report.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// A server (`s3`) or client (`c2`) as the trace names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Server(u32),
    Client(u32),
}

impl Endpoint {
    pub fn parse(name: &str) -> Option<Endpoint> {
        let (kind, n) = name.split_at_checked(1)?;
        let n = n.parse().ok()?;
        match kind {
            "s" => Some(Endpoint::Server(n)),
            "c" => Some(Endpoint::Client(n)),
            _ => None,
        }
    }

    pub fn server(self) -> Option<u32> {
        match self {
            Endpoint::Server(s) => Some(s),
            Endpoint::Client(_) => None,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Server(s) => write!(f, "s{s}"),
            Endpoint::Client(c) => write!(f, "c{c}"),
        }
    }
}

/// The first line `sim run` writes: what was run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub scenario: String,
    pub path: String,
    pub description: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    /// Voting participants, as `s1`, `s2`, ...
    pub servers: Vec<String>,
    pub observers: Vec<String>,
    /// The command that reruns it.
    pub reproduce: String,
    /// The scenario file's text, shown in the report.
    pub source: Option<String>,
}

/// The last line `sim run` writes: the `--json` result of the run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeInfo {
    pub passed: bool,
    pub exit_code: i32,
    pub reasons: Vec<String>,
    pub violations: Vec<OutcomeViolation>,
    pub leader: Option<u32>,
    pub epoch: u64,
    pub elections: Vec<OutcomeElection>,
    pub committed: u64,
    pub events: u64,
    pub sim_ms: f64,
    pub trace_hash: String,
    pub reproduce: String,
    pub zk_version: String,
    pub startup_failures: Vec<OutcomeStartupFailure>,
    pub fired: Vec<OutcomeFired>,
    pub attributed_to: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeStartupFailure {
    pub at_ms: f64,
    pub server: u32,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeFired {
    pub at_ms: f64,
    pub server: u32,
    pub bug: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeViolation {
    pub invariant: String,
    pub at_ms: f64,
    pub server: Option<u32>,
    pub message: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeElection {
    pub epoch: u64,
    pub leader: u32,
    pub started_ms: f64,
    pub established_ms: f64,
    pub recovered: Vec<String>,
}

/// A protocol event of one server (`zab::Event`), as far as the report uses it.
#[derive(Clone, Debug, Deserialize)]
pub enum Event {
    State {
        state: String,
        phase: String,
        epoch: u64,
    },
    Vote {
        leader: u32,
        zxid: u64,
        peer_epoch: u64,
        election_epoch: u64,
    },
    Elected {
        leader: u32,
        election_epoch: u64,
    },
    EpochDecided {
        epoch: u64,
    },
    Established {
        epoch: u64,
        quorum: Vec<u32>,
    },
    SyncDecision {
        learner: u32,
        mode: String,
        zxid: u64,
        peer_last_zxid: u64,
    },
    Synced {
        leader: u32,
        epoch: u64,
    },
    Proposed {
        txn: Txn,
    },
    Committed {
        txn: Txn,
        acks: Vec<u32>,
    },
    Delivered {
        count: u64,
    },
    TreeReset {
        kept: u64,
    },
    LeaderShutdown {
        reason: String,
    },
    LearnerShutdown {
        reason: String,
    },
    ProtocolError {
        reason: String,
    },
    StartupFailed {
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Txn {
    pub zxid: u64,
}

/// A durable write (`zab::DiskOp`); only the txn log's end matters to the report.
#[derive(Clone, Debug, Deserialize)]
pub enum DiskOp {
    #[serde(alias = "AppendToNewFile")]
    Append(Txn),
    Truncate(u64),
    DropSnapshotsAfter(u64),
    Snapshot(IgnoredAny),
    AcceptedEpoch(u64),
    CurrentEpoch(u64),
    UpdatingEpoch(bool),
}

/// A client's report (`zab::client_api::ClientEvent`), as far as the report uses it.
///
/// Read leniently: a variant this reader does not know becomes [`ClientEvent::Other`] with
/// its name, and so does a known variant whose fields changed shape, so that a newer client
/// model still gives a report of everything else on the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    Connecting {
        server: u32,
    },
    Connected {
        session: u64,
        server: u32,
        timeout_ms: u32,
    },
    Disconnected {
        server: u32,
    },
    Expired {
        session: u64,
    },
    Submitted {
        op: u64,
        server: u32,
        request: Request,
    },
    Answered {
        op: u64,
        zxid: Option<u64>,
        result: Answer,
    },
    Watch {
        kind: String,
        path: String,
        server: u32,
    },
    Recipe(RecipeEvent),
    ResourceUsed {
        token: u64,
        accepted: bool,
    },
    Crashed,
    Paused,
    Resumed,
    /// A variant the report does not know, by name.
    Other(String),
}

/// What a request asked for: ZooKeeper's name of the operation and the path it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub path: Option<String>,
    /// Writes go through the leader and a txn.
    pub write: bool,
}

/// How a request ended: the reply's kind, or ZooKeeper's name of the error
/// (`CONNECTIONLOSS`, `NODEEXISTS`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok(String),
    Err(String),
}

/// What a recipe reports (`zab::client_api::RecipeEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipeEvent {
    Leading { path: String, token: u64 },
    NotLeading,
    LockAcquired { path: String },
    LockReleased,
    IdAssigned { id: u64 },
    Produced { item: String },
    Consumed { item: String },
    ConfigSeen { version: u64 },
    UseResource { token: u64 },
    Other(String),
}

/// An externally tagged enum value as serde writes it: `"Name"` for a unit variant, `{"Name":
/// body}` otherwise.
fn variant(v: &serde_json::Value) -> Option<(&str, &serde_json::Value)> {
    match v {
        serde_json::Value::String(name) => Some((name, &serde_json::Value::Null)),
        serde_json::Value::Object(map) if map.len() == 1 => {
            map.iter().next().map(|(k, body)| (k.as_str(), body))
        }
        _ => None,
    }
}

fn field<T: serde::de::DeserializeOwned>(body: &serde_json::Value, name: &str) -> Option<T> {
    serde_json::from_value(body.get(name)?.clone()).ok()
}

fn text(body: &serde_json::Value, name: &str) -> Option<String> {
    body.get(name)?.as_str().map(str::to_string)
}

impl Request {
    fn read(v: &serde_json::Value) -> Option<Request> {
        let (name, body) = variant(v)?;
        let (op, write) = match name {
            "Create" => ("create", true),
            "Delete" => ("delete", true),
            "SetData" => ("setData", true),
            "CloseSession" => ("closeSession", true),
            "GetData" => ("getData", false),
            "Exists" => ("exists", false),
            "GetChildren" => ("getChildren", false),
            "Sync" => ("sync", false),
            other => (other, false),
        };
        Some(Request {
            name: op.to_string(),
            path: text(body, "path"),
            write,
        })
    }
}

impl Answer {
    fn read(v: &serde_json::Value) -> Option<Answer> {
        match variant(v)? {
            ("Ok", reply) => Some(Answer::Ok(variant(reply)?.0.to_string())),
            // ZooKeeper spells its codes as the variant's name in capitals.
            ("Err", code) => Some(Answer::Err(variant(code)?.0.to_uppercase())),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Answer::Ok(_))
    }
}

impl RecipeEvent {
    fn read(v: &serde_json::Value) -> RecipeEvent {
        let Some((name, b)) = variant(v) else {
            return RecipeEvent::Other(String::new());
        };
        RecipeEvent::known(name, b).unwrap_or_else(|| RecipeEvent::Other(name.to_string()))
    }

    fn known(name: &str, b: &serde_json::Value) -> Option<RecipeEvent> {
        Some(match name {
            "Leading" => RecipeEvent::Leading {
                path: text(b, "path")?,
                token: field(b, "token")?,
            },
            "NotLeading" => RecipeEvent::NotLeading,
            "LockAcquired" => RecipeEvent::LockAcquired {
                path: text(b, "path")?,
            },
            "LockReleased" => RecipeEvent::LockReleased,
            "IdAssigned" => RecipeEvent::IdAssigned {
                id: field(b, "id")?,
            },
            "Produced" => RecipeEvent::Produced {
                item: text(b, "item")?,
            },
            "Consumed" => RecipeEvent::Consumed {
                item: text(b, "item")?,
            },
            "ConfigSeen" => RecipeEvent::ConfigSeen {
                version: field(b, "version")?,
            },
            "UseResource" => RecipeEvent::UseResource {
                token: field(b, "token")?,
            },
            _ => return None,
        })
    }
}

impl ClientEvent {
    fn read(v: &serde_json::Value) -> ClientEvent {
        let Some((name, b)) = variant(v) else {
            return ClientEvent::Other(String::new());
        };
        ClientEvent::known(name, b).unwrap_or_else(|| ClientEvent::Other(name.to_string()))
    }

    fn known(name: &str, b: &serde_json::Value) -> Option<ClientEvent> {
        let server = || field::<u32>(b, "server");
        Some(match name {
            "Connecting" => ClientEvent::Connecting { server: server()? },
            "Connected" => ClientEvent::Connected {
                session: field(b, "session")?,
                server: server()?,
                timeout_ms: field(b, "timeout_ms")?,
            },
            "Disconnected" => ClientEvent::Disconnected { server: server()? },
            "Expired" => ClientEvent::Expired {
                session: field(b, "session")?,
            },
            "Submitted" => ClientEvent::Submitted {
                op: field(b, "op")?,
                server: server()?,
                request: Request::read(b.get("request")?)?,
            },
            "Answered" => ClientEvent::Answered {
                op: field(b, "op")?,
                zxid: field(b, "zxid")?,
                result: Answer::read(b.get("result")?)?,
            },
            "Watch" => {
                let event = b.get("event")?;
                ClientEvent::Watch {
                    kind: text(event, "kind")?,
                    path: text(event, "path")?,
                    server: server()?,
                }
            }
            "Recipe" => ClientEvent::Recipe(RecipeEvent::read(b)),
            "ResourceUsed" => ClientEvent::ResourceUsed {
                token: field(b, "token")?,
                accepted: field(b, "accepted")?,
            },
            "Crashed" => ClientEvent::Crashed,
            "Paused" => ClientEvent::Paused,
            "Resumed" => ClientEvent::Resumed,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for ClientEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClientEvent, D::Error> {
        Ok(ClientEvent::read(&serde_json::Value::deserialize(d)?))
    }
}

/// One line of the trace.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Run(RunInfo),
    Outcome(OutcomeInfo),
    Event {
        t_us: u64,
        server: String,
        event: Event,
    },
    Send {
        t_us: u64,
        from: String,
        to: String,
        msg: String,
        zxid: Option<String>,
    },
    Deliver {
        t_us: u64,
        from: String,
        to: String,
        msg: String,
        zxid: Option<String>,
    },
    DiskIssued {
        t_us: u64,
        server: String,
        op: DiskOp,
    },
    DiskDurable {
        t_us: u64,
        server: String,
        op: DiskOp,
    },
    Crash {
        t_us: u64,
        server: String,
    },
    Restart {
        t_us: u64,
        server: String,
    },
    Pause {
        t_us: u64,
        server: String,
    },
    Resume {
        t_us: u64,
        server: String,
    },
    Network {
        t_us: u64,
        partitions: Vec<Vec<Vec<String>>>,
    },
    Client {
        t_us: u64,
        client: String,
        event: ClientEvent,
    },
    InitiallyCommitted {
        t_us: u64,
        upto: String,
    },
    LivenessDeadline {
        t_us: u64,
        faults_over_us: u64,
    },
    Fault {
        t_us: u64,
        fault: String,
    },
    /// The simulator's record of an election: when the ensemble lost its last established
    /// leader and when this one established its epoch.
    Election {
        t_us: u64,
        epoch: u64,
        leader: String,
        started_us: u64,
        established_us: u64,
    },
    Violation {
        t_us: u64,
        invariant: String,
        server: Option<String>,
        message: String,
    },
}

impl Line {
    /// Reads one line; `None` for anything the report does not know (it is skipped).
    pub fn parse(text: &str) -> Option<Line> {
        serde_json::from_str(text).ok()
    }

    /// Simulated time of the line, for lines that have one.
    pub fn t_us(&self) -> Option<u64> {
        match self {
            Line::Run(_) | Line::Outcome(_) => None,
            Line::Event { t_us, .. }
            | Line::Send { t_us, .. }
            | Line::Deliver { t_us, .. }
            | Line::DiskIssued { t_us, .. }
            | Line::DiskDurable { t_us, .. }
            | Line::Crash { t_us, .. }
            | Line::Restart { t_us, .. }
            | Line::Pause { t_us, .. }
            | Line::Resume { t_us, .. }
            | Line::Network { t_us, .. }
            | Line::Client { t_us, .. }
            | Line::InitiallyCommitted { t_us, .. }
            | Line::LivenessDeadline { t_us, .. }
            | Line::Fault { t_us, .. }
            | Line::Election { t_us, .. }
            | Line::Violation { t_us, .. } => Some(*t_us),
        }
    }
}

/// `epoch:counter`, as the rest of zabsim prints zxids.
pub fn zxid(z: u64) -> String {
    zab::Zxid(z).to_string()
}

/// `5:3 = 0x500000003`: for hover texts, where a reader may be comparing with ZooKeeper's
/// logs, which print the hex form.
pub fn zxid_both(z: u64) -> String {
    format!("{} = {}", zab::Zxid(z), zab::Zxid(z).hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_simulators_lines() {
        let l = Line::parse(
            r#"{"kind":"event","t_us":5,"server":"s2","event":{"State":{"state":"Following","phase":"Discovery","epoch":0}}}"#,
        );
        assert!(matches!(
            l,
            Some(Line::Event { t_us: 5, event: Event::State { ref state, .. }, .. }) if state == "Following"
        ));
        let l = Line::parse(
            r#"{"kind":"disk_durable","t_us":7,"server":"s5","op":{"Append":{"zxid":4294967297,"proposer":7,"request":{"client":3,"cxid":3},"op":{"SetData":{"key":7,"value":1}}}}}"#,
        );
        assert!(matches!(
            l,
            Some(Line::DiskDurable {
                op: DiskOp::Append(Txn { zxid: 4294967297 }),
                ..
            })
        ));
        let l = Line::parse(
            r#"{"kind":"send","t_us":0,"from":"s1","to":"c2","msg":"NOTIFICATION","zxid":"0:0","body":{"x":1}}"#,
        );
        assert!(matches!(l, Some(Line::Send { ref to, .. }) if to == "c2"));
    }

    /// One event of each kind, as the simulator builds it. The match names every kind, so a
    /// new kind of `zab::Event` does not compile here until it has a sample.
    fn sample(kind: zab::EventKind) -> zab::Event {
        use zab::{Event as E, EventKind as K, ServerId, Zxid};
        let txn = zab::TxnId {
            zxid: Zxid::new(2, 7),
            proposer: ServerId(3),
        };
        let reason = || "why".to_string();
        match kind {
            K::State => E::State {
                state: zab::ServerState::Following,
                phase: zab::ZabPhase::Synchronization,
                epoch: 2,
            },
            K::Vote => E::Vote {
                leader: ServerId(3),
                zxid: Zxid::new(1, 4),
                peer_epoch: 1,
                election_epoch: 5,
            },
            K::Elected => E::Elected {
                leader: ServerId(3),
                election_epoch: 5,
            },
            K::EpochDecided => E::EpochDecided { epoch: 2 },
            K::Established => E::Established {
                epoch: 2,
                quorum: vec![ServerId(1), ServerId(3)],
            },
            K::SyncDecision => E::SyncDecision {
                learner: ServerId(1),
                mode: zab::SyncMode::Trunc,
                zxid: Zxid::new(1, 4),
                peer_last_zxid: Zxid::new(1, 6),
            },
            K::Synced => E::Synced {
                leader: ServerId(3),
                epoch: 2,
            },
            K::Proposed => E::Proposed {
                txn,
                op: zab::TxnOp::Delete {
                    path: zab::Path::from("/a"),
                },
                request: Some(zab::db::RequestId {
                    client: zab::ClientId(1),
                    cxid: 4,
                }),
            },
            K::Committed => E::Committed {
                txn,
                acks: [ServerId(1), ServerId(3)].into_iter().collect(),
            },
            K::Delivered => E::Delivered { from: 3, count: 9 },
            K::TreeReset => E::TreeReset { kept: 4 },
            K::LeaderShutdown => E::LeaderShutdown { reason: reason() },
            K::LearnerShutdown => E::LearnerShutdown { reason: reason() },
            K::ProtocolError => E::ProtocolError { reason: reason() },
            K::StartupFailed => E::StartupFailed { reason: reason() },
        }
    }

    /// The report reads only the fields it draws, but it reads every kind of event the
    /// simulator writes, as the simulator writes it: the two cannot drift apart unnoticed.
    #[test]
    fn reads_every_kind_of_event_the_simulator_writes() {
        use strum::VariantArray;
        for kind in zab::EventKind::VARIANTS {
            let event = sample(*kind);
            let text = format!(
                r#"{{"kind":"event","t_us":3,"server":"s2","event":{}}}"#,
                serde_json::to_string(&event).expect("serializes")
            );
            let Some(Line::Event { event: read, .. }) = Line::parse(&text) else {
                panic!("{kind:?} is not read: {text}");
            };
            assert_eq!(format!("{kind:?}"), variant_name(&read), "{text}");
            match (&event, &read) {
                (zab::Event::Committed { txn, .. }, Event::Committed { txn: t, .. }) => {
                    assert_eq!(txn.zxid.0, t.zxid)
                }
                (
                    zab::Event::State { epoch, .. },
                    Event::State {
                        state,
                        phase,
                        epoch: e,
                    },
                ) => {
                    assert_eq!(
                        (state.as_str(), phase.as_str(), *e),
                        ("Following", "Synchronization", *epoch)
                    )
                }
                (zab::Event::SyncDecision { mode, .. }, Event::SyncDecision { mode: m, .. }) => {
                    assert_eq!(mode.name(), m.to_uppercase())
                }
                _ => {}
            }
        }
    }

    fn variant_name(e: &Event) -> &'static str {
        match e {
            Event::State { .. } => "State",
            Event::Vote { .. } => "Vote",
            Event::Elected { .. } => "Elected",
            Event::EpochDecided { .. } => "EpochDecided",
            Event::Established { .. } => "Established",
            Event::SyncDecision { .. } => "SyncDecision",
            Event::Synced { .. } => "Synced",
            Event::Proposed { .. } => "Proposed",
            Event::Committed { .. } => "Committed",
            Event::Delivered { .. } => "Delivered",
            Event::TreeReset { .. } => "TreeReset",
            Event::LeaderShutdown { .. } => "LeaderShutdown",
            Event::LearnerShutdown { .. } => "LearnerShutdown",
            Event::ProtocolError { .. } => "ProtocolError",
            Event::StartupFailed { .. } => "StartupFailed",
        }
    }

    #[test]
    fn unknown_lines_are_skipped_not_fatal() {
        assert!(Line::parse(r#"{"kind":"telemetry","t_us":1}"#).is_none());
        assert!(Line::parse("not json").is_none());
        assert!(
            Line::parse(r#"{"kind":"event","t_us":1,"server":"s1","event":{"New":{}}}"#).is_none()
        );
    }

    fn client_event(json: &str) -> ClientEvent {
        let line = format!(r#"{{"kind":"client","t_us":1,"client":"c2","event":{json}}}"#);
        match Line::parse(&line) {
            Some(Line::Client { event, .. }) => event,
            other => panic!("{json}: {other:?}"),
        }
    }

    #[test]
    fn reads_the_client_events_the_simulator_writes() {
        assert_eq!(
            client_event(
                r#"{"Connected":{"session":72057594037927936,"server":1,"timeout_ms":2000}}"#
            ),
            ClientEvent::Connected {
                session: 1 << 56,
                server: 1,
                timeout_ms: 2000
            }
        );
        assert_eq!(
            client_event(
                r#"{"Submitted":{"op":1,"cxid":1,"server":1,"request":{"Create":{"path":"/app","data":0,"mode":"Persistent"}}}}"#
            ),
            ClientEvent::Submitted {
                op: 1,
                server: 1,
                request: Request {
                    name: "create".into(),
                    path: Some("/app".into()),
                    write: true
                }
            }
        );
        assert_eq!(
            client_event(r#"{"Submitted":{"op":9,"cxid":9,"server":3,"request":"CloseSession"}}"#),
            ClientEvent::Submitted {
                op: 9,
                server: 3,
                request: Request {
                    name: "closeSession".into(),
                    path: None,
                    write: true
                }
            }
        );
        assert_eq!(
            client_event(
                r#"{"Answered":{"op":1,"cxid":1,"zxid":4294967298,"result":{"Ok":{"Created":{"path":"/app"}}}}}"#
            ),
            ClientEvent::Answered {
                op: 1,
                zxid: Some(4294967298),
                result: Answer::Ok("Created".into())
            }
        );
        assert_eq!(
            client_event(
                r#"{"Answered":{"op":4,"cxid":4,"zxid":null,"result":{"Err":"ConnectionLoss"}}}"#
            ),
            ClientEvent::Answered {
                op: 4,
                zxid: None,
                result: Answer::Err("CONNECTIONLOSS".into())
            }
        );
        assert_eq!(
            client_event(r#"{"Answered":{"op":5,"cxid":5,"zxid":7,"result":{"Ok":"Deleted"}}}"#),
            ClientEvent::Answered {
                op: 5,
                zxid: Some(7),
                result: Answer::Ok("Deleted".into())
            }
        );
        assert_eq!(
            client_event(
                r#"{"Recipe":{"Leading":{"path":"/app/leader_election/n_0000000000","token":4294967300}}}"#
            ),
            ClientEvent::Recipe(RecipeEvent::Leading {
                path: "/app/leader_election/n_0000000000".into(),
                token: 4294967300
            })
        );
        assert_eq!(
            client_event(r#"{"Recipe":"NotLeading"}"#),
            ClientEvent::Recipe(RecipeEvent::NotLeading)
        );
        assert_eq!(
            client_event(r#"{"ResourceUsed":{"token":4294967320,"accepted":false}}"#),
            ClientEvent::ResourceUsed {
                token: 4294967320,
                accepted: false
            }
        );
        assert_eq!(
            client_event(
                r#"{"Watch":{"event":{"kind":"NodeDeleted","path":"/a","zxid":3},"server":1}}"#
            ),
            ClientEvent::Watch {
                kind: "NodeDeleted".into(),
                path: "/a".into(),
                server: 1
            }
        );
        assert_eq!(client_event(r#""Paused""#), ClientEvent::Paused);
        assert_eq!(client_event(r#""Crashed""#), ClientEvent::Crashed);
    }

    #[test]
    fn an_unknown_client_event_keeps_its_line() {
        assert_eq!(
            client_event(r#"{"Teleported":{"to":"s9"}}"#),
            ClientEvent::Other("Teleported".into())
        );
        assert_eq!(
            client_event(r#""Hibernating""#),
            ClientEvent::Other("Hibernating".into())
        );
        // A known event whose fields changed shape, and an unknown recipe report.
        assert_eq!(
            client_event(r#"{"Connected":{"session":"abc"}}"#),
            ClientEvent::Other("Connected".into())
        );
        assert_eq!(
            client_event(r#"{"Recipe":{"BarrierEntered":{"n":3}}}"#),
            ClientEvent::Recipe(RecipeEvent::Other("BarrierEntered".into()))
        );
        // An operation or an error this reader does not know still counts.
        assert_eq!(
            client_event(
                r#"{"Submitted":{"op":2,"cxid":2,"server":1,"request":{"Multi":{"ops":[]}}}}"#
            ),
            ClientEvent::Submitted {
                op: 2,
                server: 1,
                request: Request {
                    name: "Multi".into(),
                    path: None,
                    write: false
                }
            }
        );
        assert_eq!(
            client_event(
                r#"{"Answered":{"op":2,"cxid":2,"zxid":null,"result":{"Err":"NoQuota"}}}"#
            ),
            ClientEvent::Answered {
                op: 2,
                zxid: None,
                result: Answer::Err("NOQUOTA".into())
            }
        );
    }

    #[test]
    fn endpoints_and_zxids_print_as_the_trace_writes_them() {
        assert_eq!(Endpoint::parse("s12"), Some(Endpoint::Server(12)));
        assert_eq!(Endpoint::parse("c3"), Some(Endpoint::Client(3)));
        assert_eq!(Endpoint::parse("x1"), None);
        assert_eq!(Endpoint::Client(3).to_string(), "c3");
        assert_eq!(zxid(4294967298), "1:2");
    }
}
