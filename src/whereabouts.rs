//! Where a process id means something: one boot of one kernel, one pid namespace. Owner
//! records of locks (`layout`) and leases (`bucket`) carry it, so a holder that died is told
//! by its pid only on the host, boot and container where that pid is its own; elsewhere only
//! its heartbeat tells.

use std::fs;

use serde::{Deserialize, Serialize};

/// Host name (for people: containers often share one), boot id and pid namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Whereabouts {
    pub(crate) host: String,
    pub(crate) boot: String,
    pub(crate) pidns: String,
}

impl Whereabouts {
    pub(crate) fn current() -> Self {
        let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|b| b.trim().to_owned())
            .unwrap_or_default();
        let pidns = fs::read_link("/proc/self/ns/pid")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            host: hostname(),
            boot,
            pidns,
        }
    }

    /// Whether a pid from `self` can be looked up here: same host, boot and pid namespace,
    /// all known.
    pub(crate) fn is_here(&self) -> bool {
        let here = Self::current();
        !here.boot.is_empty() && !here.pidns.is_empty() && *self == here
    }

    /// Whether `pid`, from `self`, is a process that has exited: known only here, and only
    /// with `/proc` mounted.
    pub(crate) fn is_dead(&self, pid: u32) -> bool {
        let proc = std::path::Path::new("/proc");
        self.is_here() && proc.join("self").exists() && !proc.join(pid.to_string()).exists()
    }
}

pub(crate) fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}
