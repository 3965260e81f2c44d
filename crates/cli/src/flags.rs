//! Flags shared by several commands.

/// `--swarm [--mutate A,B]` of `sim run` and `sim shrink`: the configuration a swarm seed
/// draws, or a `sim fuzz --guided` mutant of it, instead of the scenario's own.
#[derive(clap::Args, Debug)]
pub struct SwarmDraw {
    /// Use the configuration `sim fuzz --swarm` draws for this seed instead of the
    /// scenario's own ensemble, faults, network, disk and clients.
    #[arg(long)]
    pub swarm: bool,
    /// With --swarm: a `sim fuzz --guided` mutant, the changes made to the seed's draw, in
    /// order (`--mutate 17,203`).
    #[arg(
        long,
        value_name = "A,B,...",
        requires = "swarm",
        value_delimiter = ','
    )]
    pub mutate: Vec<u64>,
}

/// `--zk VERSION`: one of the modelled releases.
pub fn parse_zk(s: &str) -> Result<zab::ZkVersion, String> {
    zab::ZkVersion::from_name(s).ok_or_else(|| {
        format!(
            "unknown ZooKeeper release {s:?}; modelled releases: {} (see `sim list versions`)",
            zab::ZkVersion::names()
        )
    })
}

/// `--bug NAME`: one of the bug variants.
pub fn parse_bug(s: &str) -> Result<zab::Bug, String> {
    zab::Bug::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = zab::Bug::ALL.iter().map(|b| b.name()).collect();
        format!(
            "unknown bug variant {s:?}; known: {} (see `sim list bugs`)",
            names.join(", ")
        )
    })
}

/// `--jobs N`: at least one worker.
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err(
            "0 workers would run nothing; give at least 1 (default: the machine's cores)".into(),
        ),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?} is not a number of workers: {e}")),
    }
}
