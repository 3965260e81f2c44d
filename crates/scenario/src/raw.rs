//! The file as written: serde structs that mirror the TOML, before any validation.
//!
//! Every leaf is `Spanned` so that validation can point at the line of a bad value, and every
//! optional key is an `Option` so that a missing key is reported by validation, with a better
//! message than serde's, rather than by the deserializer. Integers are read as `i64` (TOML's
//! integer type) and range-checked later, so that `servers = -1` gets "must be between 1 and
//! 15", not a message about `u8`.
//!
//! Tables that may be written with dotted keys (`cluster.servers = 3`, `on.send = "ACK"`) are not
//! wrapped in `Spanned`: toml gives such implicit tables no span, and `Spanned` would then fail.
//! Elements of arrays of tables (`[[faults]]`, `[[server]]`) always have one.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Int = Spanned<i64>;
pub(crate) type Float = Spanned<f64>;
pub(crate) type Str = Spanned<String>;
pub(crate) type Bool = Spanned<bool>;
/// `[min, max]`; the length is checked by validation.
pub(crate) type IntRange = Spanned<Vec<Int>>;
/// A selector is a string (`"leader"`, `"s3"`) or a bare server id (`3`).
pub(crate) type SelectorSrc = Spanned<toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Option<Str>,
    pub description: Option<Str>,
    pub seed: Option<Int>,
    pub bugs: Option<Vec<Str>>,
    pub zk: Option<Str>,
    pub cluster: Option<RawCluster>,
    #[serde(default)]
    pub server: Vec<Spanned<RawServer>>,
    pub network: Option<RawNetwork>,
    pub disk: Option<RawDisk>,
    pub clients: Option<RawClients>,
    pub run: Option<RawRun>,
    #[serde(default)]
    pub faults: Vec<Spanned<RawFault>>,
    pub random: Option<RawRandom>,
    pub expect: Option<RawExpect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    pub servers: Option<Int>,
    pub ids: Option<Spanned<Vec<Int>>>,
    pub observers: Option<Int>,
    pub tick_ms: Option<Int>,
    pub init_limit: Option<Int>,
    pub sync_limit: Option<Int>,
    pub zoo_cfg: Option<Str>,
    pub committed: Option<Str>,
    pub snap_count: Option<Int>,
    pub initial_zxid_counter: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub id: Option<Int>,
    pub accepted_epoch: Option<Int>,
    pub current_epoch: Option<Int>,
    pub log: Option<Vec<Str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub delay_ms: Option<IntRange>,
    pub reset: Option<Float>,
    pub reorder: Option<Bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDisk {
    pub fsync_ms: Option<IntRange>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClients {
    pub workload: Option<Str>,
    pub count: Option<Int>,
    pub session_timeout_ms: Option<Int>,
    pub ops: Option<Int>,
    pub write_ratio: Option<Float>,
    pub think_ms: Option<IntRange>,
    pub fencing: Option<Bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRun {
    pub duration_ms: Option<Int>,
    pub liveness_ms: Option<Int>,
}

/// One `[[faults]]` table. It holds the keys of every action; validation rejects the keys that
/// do not belong to the chosen action, so that the message can say which action it was.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    pub at_ms: Option<Int>,
    pub on: Option<RawTrigger>,
    pub action: Option<Str>,
    pub target: Option<SelectorSrc>,
    pub restart_after_ms: Option<Int>,
    pub groups: Option<Spanned<Vec<Spanned<Vec<SelectorSrc>>>>>,
    pub one_way: Option<Bool>,
    pub heal_after_ms: Option<Int>,
    pub duration_ms: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrigger {
    pub send: Option<Str>,
    pub receive: Option<Str>,
    pub state: Option<Str>,
    pub from: Option<SelectorSrc>,
    pub to: Option<SelectorSrc>,
    pub nth: Option<Int>,
    pub after_ms: Option<Int>,
    pub delay_ms: Option<Int>,
}

impl RawTrigger {
    /// Where the trigger starts as far as we can tell: its first key's value. The `on` table
    /// itself has no span when written with dotted keys.
    pub fn first_offset(&self) -> Option<usize> {
        let strs = [&self.send, &self.receive, &self.state]
            .into_iter()
            .flatten()
            .map(|s| s.span());
        let sels = [&self.from, &self.to]
            .into_iter()
            .flatten()
            .map(|s| s.span());
        let ints = [&self.nth, &self.after_ms, &self.delay_ms]
            .into_iter()
            .flatten()
            .map(|s| s.span());
        strs.chain(sels).chain(ints).map(|s| s.start).min()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRandom {
    pub until_ms: Option<Int>,
    pub crash_per_min: Option<Float>,
    pub restart_ms: Option<IntRange>,
    pub partition_per_min: Option<Float>,
    pub partition_ms: Option<IntRange>,
    pub pause_per_min: Option<Float>,
    pub pause_ms: Option<IntRange>,
    pub one_way_per_min: Option<Float>,
    pub client_crash_per_min: Option<Float>,
    pub client_pause_per_min: Option<Float>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub violations: Option<Vec<Str>>,
    /// `true`, `false`, or the server that must lead (`"s2"` or `2`).
    pub leader: Option<Spanned<toml::Value>>,
    pub elections: Option<Int>,
    pub delivered: Option<Vec<Str>>,
    pub never_delivered: Option<Vec<Str>>,
    pub committed_at_least: Option<Int>,
    pub same_history: Option<Bool>,
    #[serde(default)]
    pub sync: Vec<Spanned<RawSyncExpect>>,
    pub golden: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSyncExpect {
    pub learner: Option<SelectorSrc>,
    pub mode: Option<Str>,
    pub zxid: Option<Str>,
}
