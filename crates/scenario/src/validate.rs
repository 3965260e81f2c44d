//! From the file as written (`raw`) to the scenario the simulator runs (`model`): defaults,
//! range checks and cross-references, in roughly the order a reader meets them in the file.

use crate::cluster;
use crate::error::{Result, Source};
use crate::faults;
use crate::model::{Clients, Disk, Expect, Network, RandomFaults, Run, Scenario, Workload};
use crate::raw::{Float, IntRange, RawClients, RawRandom, RawScenario, Str};
use crate::selector::World;
use crate::servers;
use crate::values::{ms, ms_or, ms_range_or, probability, rate, uint, uint32};
use zab::{Bug, BugSet, ZkVersion};

pub(crate) fn scenario(src: Source<'_>, raw: RawScenario) -> Result<Scenario> {
    let name = name(src, raw.name.as_ref())?;
    let description = raw.description.map(|d| d.into_inner()).unwrap_or_default();
    let seed = match &raw.seed {
        Some(s) => uint(src, s, "seed", 0, u64::MAX)?,
        None => 0,
    };
    let bugs = bugs(src, raw.bugs.as_deref().unwrap_or_default())?;
    let zk = raw.zk.as_ref().map(|v| zk(src, v)).transpose()?;

    let raw_cluster = raw.cluster.unwrap_or_default();
    let cluster_out = cluster::cluster(src, &raw_cluster)?;
    let set_keys = set_keys(&raw_cluster, raw.clients.as_ref());
    let cluster = cluster_out.cluster;
    let servers = servers::servers(src, &raw.server, &cluster)?;
    if let Some(span) = &cluster_out.committed_span {
        servers::check_committed(src, span, &cluster, &servers)?;
    }

    let network = raw.network.unwrap_or_default();
    let network = Network {
        delay_ms: ms_range_or(src, network.delay_ms.as_ref(), "network.delay_ms", (1, 10))?,
        reset: match &network.reset {
            Some(p) => probability(src, p, "network.reset")?,
            None => 0.0,
        },
        reorder: network.reorder.is_some_and(|b| b.into_inner()),
    };
    let disk = raw.disk.unwrap_or_default();
    let disk = Disk {
        fsync_ms: ms_range_or(src, disk.fsync_ms.as_ref(), "disk.fsync_ms", (1, 5))?,
    };
    let clients = raw.clients.as_ref().map(|c| clients(src, c)).transpose()?;

    let run = raw.run.unwrap_or_default();
    let run = Run {
        duration_ms: ms_or(src, run.duration_ms.as_ref(), "run.duration_ms", 1, 20_000)?,
        liveness_ms: ms_or(src, run.liveness_ms.as_ref(), "run.liveness_ms", 0, 10_000)?,
    };
    let random = raw
        .random
        .as_ref()
        .map(|r| random(src, r, &run))
        .transpose()?;

    let world = World {
        cluster: &cluster,
        clients: clients.as_ref().map(|c| c.count),
    };
    let faults = faults::faults(src, &raw.faults, &world)?;

    let raw_expect = raw.expect.unwrap_or_default();
    let expect = Expect {
        violations: invariants(src, raw_expect.violations.as_deref().unwrap_or_default())?,
        ..crate::expect::expect(src, &raw_expect, &world)?
    };

    Ok(Scenario {
        name,
        description,
        seed,
        bugs,
        zk,
        path: src.file.to_path_buf(),
        cluster,
        servers,
        network,
        disk,
        clients,
        run,
        faults,
        random,
        expect,
        set_keys,
    })
}

/// Which of [`crate::model::SWARM_DRAWN`] the file sets; a `zoo_cfg` sets the ticks and limits.
fn set_keys(
    c: &crate::raw::RawCluster,
    clients: Option<&RawClients>,
) -> std::collections::BTreeSet<&'static str> {
    let zoo = c.zoo_cfg.is_some();
    [
        ("cluster.tick_ms", zoo || c.tick_ms.is_some()),
        ("cluster.init_limit", zoo || c.init_limit.is_some()),
        ("cluster.sync_limit", zoo || c.sync_limit.is_some()),
        ("cluster.snap_count", c.snap_count.is_some()),
        (
            "cluster.initial_zxid_counter",
            c.initial_zxid_counter.is_some(),
        ),
        (
            "clients.session_timeout_ms",
            clients.is_some_and(|c| c.session_timeout_ms.is_some()),
        ),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect()
}

/// The name ends up in file names and reproduce commands, hence the small alphabet.
fn name(src: Source<'_>, raw: Option<&Str>) -> Result<String> {
    let Some(raw) = raw else {
        let msg = "required key is missing; name the scenario with [a-z0-9-]+";
        return Err(src.err_no_line("name", msg));
    };
    let name = raw.get_ref();
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        let msg = format!("must match [a-z0-9-]+ (lowercase letters, digits, '-'), got {name:?}");
        return Err(src.err(&raw.span(), "name", msg));
    }
    Ok(name.clone())
}

fn bugs(src: Source<'_>, raw: &[Str]) -> Result<BugSet> {
    let mut set = BugSet::default();
    for (i, name) in raw.iter().enumerate() {
        let Some(bug) = Bug::from_name(name.get_ref()) else {
            let known: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
            let msg = format!(
                "unknown bug {:?}; known bugs: {}",
                name.get_ref(),
                known.join(", ")
            );
            return Err(src.err(&name.span(), format!("bugs[{i}]"), msg));
        };
        set.insert(bug);
    }
    Ok(set)
}

fn zk(src: Source<'_>, raw: &Str) -> Result<ZkVersion> {
    ZkVersion::from_name(raw.get_ref()).ok_or_else(|| {
        let msg = format!(
            "unknown ZooKeeper release {:?}; modelled releases: {}",
            raw.get_ref(),
            ZkVersion::names()
        );
        src.err(&raw.span(), "zk", msg)
    })
}

fn invariants(src: Source<'_>, raw: &[Str]) -> Result<Vec<String>> {
    raw.iter()
        .enumerate()
        .map(|(i, name)| match check::invariant(name.get_ref()) {
            Some(info) => Ok(info.name.to_owned()),
            None => {
                let known: Vec<&str> = check::INVARIANTS.iter().map(|i| i.name).collect();
                let msg = format!(
                    "unknown invariant {:?}; known invariants: {}",
                    name.get_ref(),
                    known.join(", ")
                );
                Err(src.err(&name.span(), format!("expect.violations[{i}]"), msg))
            }
        })
        .collect()
}

fn clients(src: Source<'_>, raw: &RawClients) -> Result<Clients> {
    let workload = match &raw.workload {
        None => Workload::Kv,
        Some(w) => match Workload::from_name(w.get_ref()) {
            Some(workload) => workload,
            None => {
                let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                let msg = format!(
                    "unknown workload {:?}; expected one of {}",
                    w.get_ref(),
                    names.join(", ")
                );
                return Err(src.err(&w.span(), "clients.workload", msg));
            }
        },
    };
    Ok(Clients {
        workload,
        count: match &raw.count {
            Some(n) => uint32(src, n, "clients.count", 1, 64)?,
            None => 3,
        },
        session_timeout_ms: ms_or(
            src,
            raw.session_timeout_ms.as_ref(),
            "clients.session_timeout_ms",
            1,
            crate::model::defaults::SESSION_TIMEOUT_MS,
        )?,
        ops: match &raw.ops {
            Some(n) => uint32(src, n, "clients.ops", 0, 1_000_000)?,
            None => 50,
        },
        write_ratio: match &raw.write_ratio {
            Some(p) => probability(src, p, "clients.write_ratio")?,
            None => 0.5,
        },
        think_ms: ms_range_or(src, raw.think_ms.as_ref(), "clients.think_ms", (10, 100))?,
        fencing: raw.fencing.as_ref().is_some_and(|b| *b.get_ref()),
    })
}

fn random(src: Source<'_>, raw: &RawRandom, run: &Run) -> Result<RandomFaults> {
    let r = |v: &Option<Float>, key: &str| {
        v.as_ref()
            .map_or(Ok(0.0), |v| rate(src, v, &format!("random.{key}")))
    };
    let range = |v: &Option<IntRange>, key: &str, default| {
        ms_range_or(src, v.as_ref(), &format!("random.{key}"), default)
    };
    Ok(RandomFaults {
        until_ms: match &raw.until_ms {
            Some(v) => ms(src, v, "random.until_ms", 0)?,
            None => run.duration_ms.saturating_sub(run.liveness_ms),
        },
        crash_per_min: r(&raw.crash_per_min, "crash_per_min")?,
        restart_ms: range(&raw.restart_ms, "restart_ms", (500, 5000))?,
        partition_per_min: r(&raw.partition_per_min, "partition_per_min")?,
        partition_ms: range(&raw.partition_ms, "partition_ms", (1000, 5000))?,
        pause_per_min: r(&raw.pause_per_min, "pause_per_min")?,
        pause_ms: range(&raw.pause_ms, "pause_ms", (500, 5000))?,
        one_way_per_min: r(&raw.one_way_per_min, "one_way_per_min")?,
        client_crash_per_min: r(&raw.client_crash_per_min, "client_crash_per_min")?,
        client_pause_per_min: r(&raw.client_pause_per_min, "client_pause_per_min")?,
    })
}
