//! The ZooKeeper releases zabsim models, and what each one carries.
//!
//! A release is the correct protocol plus the historical bugs and known hazards still open in
//! it, each of which is a named [`Bug`] switched on at the place where it lives. So a profile
//! is a [`BugSet`], read off the `carried_by` column of the bug table: nothing about a release
//! is written down twice. `fixed` carries nothing: it is the newest release with every hazard
//! zabsim knows of fixed, the protocol the invariants hold for.

use crate::bug::{Bug, BugSet};
use std::fmt;

/// A modelled ZooKeeper release (`--zk`, scenario key `zk`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkVersion {
    /// ZooKeeper 3.8.0, tag `release-3.8.0-1`: the release Debian 12 ships.
    V3_8_0,
    /// ZooKeeper 3.9.4, tag `release-3.9.4`.
    #[default]
    V3_9_4,
    /// 3.9.4 with the fix of every hazard zabsim knows to be open in it.
    Fixed,
}

impl ZkVersion {
    pub const ALL: &'static [ZkVersion] = &[ZkVersion::V3_8_0, ZkVersion::V3_9_4, ZkVersion::Fixed];

    /// The name used by `--zk`, `zk = "..."` and the JSON key `zk_version`.
    pub fn name(self) -> &'static str {
        match self {
            ZkVersion::V3_8_0 => "3.8.0",
            ZkVersion::V3_9_4 => "3.9.4",
            ZkVersion::Fixed => "fixed",
        }
    }

    pub fn from_name(name: &str) -> Option<ZkVersion> {
        ZkVersion::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// Every name, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = ZkVersion::ALL.iter().map(|v| v.name()).collect();
        names.join(", ")
    }

    /// The git tag of apache/zookeeper the profile follows, where there is one.
    pub fn tag(self) -> Option<&'static str> {
        match self {
            ZkVersion::V3_8_0 => Some("release-3.8.0-1"),
            ZkVersion::V3_9_4 => Some("release-3.9.4"),
            ZkVersion::Fixed => None,
        }
    }

    /// One line on what the profile is.
    pub fn description(self) -> &'static str {
        match self {
            ZkVersion::V3_8_0 => {
                "ZooKeeper 3.8.0 as released (Debian 12's package), with the bugs still open in it"
            }
            ZkVersion::V3_9_4 => "ZooKeeper 3.9.4 as released, with the hazards still open in it",
            ZkVersion::Fixed => {
                "3.9.4 with every hazard zabsim knows of fixed: the protocol the invariants hold for"
            }
        }
    }

    /// The bugs and hazards this release ships with.
    pub fn carried(self) -> BugSet {
        Bug::ALL
            .iter()
            .copied()
            .filter(|b| b.carried_by().contains(&self))
            .collect()
    }
}

impl fmt::Display for ZkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_default_is_the_newest_release() {
        for v in ZkVersion::ALL {
            assert_eq!(ZkVersion::from_name(v.name()), Some(*v));
        }
        assert_eq!(ZkVersion::default(), ZkVersion::V3_9_4);
        assert_eq!(ZkVersion::from_name("3.9"), None);
    }

    #[test]
    fn fixed_carries_nothing_and_every_carried_bug_is_in_its_releases() {
        assert!(ZkVersion::Fixed.carried().is_empty());
        for b in Bug::ALL {
            for v in ZkVersion::ALL {
                assert_eq!(
                    v.carried().has(*b),
                    b.carried_by().contains(v),
                    "{b} in {v}"
                );
            }
        }
    }
}
