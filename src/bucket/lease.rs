//! Leases: which writer fetches which file, when many writers (one per node) run the same
//! download into one prefix.
//!
//! A lease is an object `PREFIX/.hfdl/leases/<repo path>/<generation>` created with
//! `If-None-Match: *`, so of two writers creating the same generation one wins. Its holder
//! rewrites it every 10 s; a lease whose object was last written over a minute ago (by the
//! server's clock against this node's: keep clocks in sync with NTP), or whose holder is a dead
//! process of this very host, is stale, and is taken over by creating the next generation.
//! Leases spare fetching a file twice; correctness does not depend on them, since every object
//! is written whole and verified by whoever writes it.

use std::io;
use std::time::{Duration, SystemTime};

use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

use super::Bucket;
use super::uploads::PendingUpload;
use crate::repo::RepoPath;
use crate::whereabouts::Whereabouts;

const STALE_AFTER: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(500);

/// A held lease; released (deleted) when dropped.
pub(crate) struct Lease {
    bucket: Bucket,
    key: Key,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// The body of a lease object: who holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Holder {
    #[serde(flatten)]
    at: Whereabouts,
    pid: u32,
}

impl Holder {
    fn me() -> Self {
        Self {
            at: Whereabouts::current(),
            pid: std::process::id(),
        }
    }

    /// Is this a process of this host, boot and pid namespace that has exited?
    fn is_dead_here(&self) -> bool {
        self.at.is_dead(self.pid)
    }
}

impl Lease {
    /// Takes the lease of `path`, waiting while a live writer holds it. Any multipart upload
    /// of the file still in progress belongs to an earlier holder that stopped, and is aborted.
    pub(super) fn acquire(bucket: Bucket, path: &RepoPath) -> io::Result<Self> {
        let dir = bucket.record_key(&format!("leases/{path}"))?;
        let holder = serde_json::to_vec(&Holder::me())?;
        loop {
            let generations = bucket.generations(&dir)?;
            let next = match generations.last() {
                None => 1,
                Some((n, meta)) if bucket.is_stale(meta) => n + 1,
                Some(_) => {
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            let key = Key::from(format!("{dir}/{next}"));
            if !bucket.create(&key, holder.clone())? {
                continue;
            }
            for (_, old) in &generations {
                bucket.delete(&old.location);
            }
            let lease = Self {
                heartbeat: bucket.renew_every(key.clone(), holder),
                bucket,
                key,
            };
            lease.abort_earlier_uploads(path)?;
            return Ok(lease);
        }
    }

    fn abort_earlier_uploads(&self, path: &RepoPath) -> io::Result<()> {
        let key = self.bucket.key(path.as_str())?.to_string();
        for upload in self.bucket.pending_uploads(&key)? {
            if upload.key == key {
                self.bucket.abort_upload(&upload)?;
            }
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        self.bucket.delete(&self.key);
    }
}

impl Bucket {
    /// The generations of a lease, oldest first.
    fn generations(&self, dir: &Key) -> io::Result<Vec<(u64, ObjectMeta)>> {
        let store = self.inner.store.clone();
        let d = dir.clone();
        let listed = self.block(async move { store.list_with_delimiter(Some(&d)).await });
        let listed = listed.map_err(|e| self.error("list the leases", dir, e))?;
        let mut generations: Vec<(u64, ObjectMeta)> = listed
            .objects
            .into_iter()
            .filter_map(|m| Some((m.location.filename()?.parse().ok()?, m)))
            .collect();
        generations.sort_by_key(|(n, _)| *n);
        Ok(generations)
    }

    /// Not renewed for a minute, or held by a dead process of this host.
    fn is_stale(&self, meta: &ObjectMeta) -> bool {
        let written = SystemTime::UNIX_EPOCH
            + Duration::from_millis(
                u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0),
            );
        let age = SystemTime::now()
            .duration_since(written)
            .unwrap_or_default();
        if age > STALE_AFTER {
            return true;
        }
        self.get_small(&meta.location)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<Holder>(&b).ok())
            .is_some_and(|h| h.is_dead_here())
    }

    /// Creates `key` unless it exists; `false` if another writer created it first.
    fn create(&self, key: &Key, body: Vec<u8>) -> io::Result<bool> {
        let store = self.inner.store.clone();
        let k = key.clone();
        let put = self.block(async move {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            store.put_opts(&k, body.into(), options).await
        });
        match put {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.error("create the lease", key, e)),
        }
    }

    /// Deletes an object, ignoring failures (a lease left behind goes stale by itself).
    fn delete(&self, key: &Key) {
        let store = self.inner.store.clone();
        let k = key.clone();
        let _ = self.block(async move { store.delete(&k).await });
    }

    /// Rewrites the lease object every `RENEW_EVERY` until aborted.
    fn renew_every(&self, key: Key, body: Vec<u8>) -> tokio::task::JoinHandle<()> {
        let store = self.inner.store.clone();
        self.inner.runtime.spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let _ = store.put(&key, body.clone().into()).await;
            }
        })
    }

    /// Aborts the multipart uploads under the prefix that no live lease covers: what writers
    /// that died left behind. Run at the end of a successful download.
    pub(crate) fn sweep_uploads(&self) -> io::Result<usize> {
        let prefix = self.prefix_with_slash();
        let mut aborted = 0;
        for upload in self.pending_uploads(&prefix)? {
            if !self.covered_by_live_lease(&upload, &prefix)? {
                self.abort_upload(&upload)?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    fn covered_by_live_lease(&self, upload: &PendingUpload, prefix: &str) -> io::Result<bool> {
        let Some(path) = upload.key.strip_prefix(prefix) else {
            return Ok(true);
        };
        if path.starts_with(".hfdl/") {
            return Ok(true);
        }
        let dir = self.record_key(&format!("leases/{path}"))?;
        Ok(self
            .generations(&dir)?
            .last()
            .is_some_and(|(_, meta)| !self.is_stale(meta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_of_this_process_is_alive_and_another_host_is_not_judged_by_pid() {
        let me = Holder::me();
        assert!(!me.is_dead_here());
        let other_host = Holder {
            at: Whereabouts {
                host: format!("{}-other", me.at.host),
                ..me.at.clone()
            },
            pid: u32::MAX,
        };
        assert!(!other_host.is_dead_here(), "only the heartbeat tells");
        let other_container = Holder {
            at: Whereabouts {
                pidns: "pid:[1]".into(),
                ..me.at.clone()
            },
            pid: u32::MAX,
        };
        assert!(!other_container.is_dead_here());
        let dead = Holder {
            pid: u32::MAX,
            ..me
        };
        assert!(dead.is_dead_here());
    }
}
