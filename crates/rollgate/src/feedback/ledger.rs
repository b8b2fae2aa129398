//! The bounded record of recent predictions that late labels are joined against.
//!
//! Every answered prediction is written here under its request id; a label or reward that
//! arrives later finds it, and the version that made it gets the credit. Memory is bounded
//! twice: by a count (oldest records go first) and by age (older than the TTL is expired). The
//! map is split into shards, each behind its own short lock, so concurrent requests rarely meet.
//!
//! A record is held under a 128-bit hash of its request id, keyed with a secret drawn when the
//! ledger is made, not under the id itself: one hash per insert instead of a copy of the id and
//! a SipHash at each of insert and eviction, on every answered request. The secret key keeps
//! clients (who choose their `x-request-id`) from aiming ids at one shard or bucket, and two
//! ids meet with a probability of 2⁻¹²⁸.

use super::Predicted;
use crate::telemetry::VersionStats;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// A request id, as the ledger keys it.
type Key = u128;

/// Keys are already uniform (a keyed hash): the map needs only a cheap, fixed mixing of them.
type KeyHasher = foldhash::fast::FixedState;

/// One answered prediction, as feedback will need it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) service: Arc<str>,
    pub(crate) version: Arc<str>,
    pub(crate) stats: Arc<VersionStats>,
    pub(crate) predicted: Predicted,
    pub(crate) at: Instant,
    /// The mirrored candidate's answer to the same request, once it came back.
    pub(crate) shadow: Option<(Arc<VersionStats>, Predicted)>,
    /// Set once a label has been joined: a second label is a duplicate.
    pub(crate) labelled: bool,
    /// Set once a reward has been joined.
    pub(crate) rewarded: bool,
}

/// Records by key, and the keys in insertion order for eviction.
#[derive(Debug, Default)]
struct Shard {
    records: HashMap<Key, Record, KeyHasher>,
    order: VecDeque<(Key, Instant)>,
}

/// Why a record could not be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Never seen (or pushed out by newer records).
    Unknown,
    /// Seen, but older than the TTL.
    Expired,
}

/// Recent predictions by request id.
#[derive(Debug)]
pub(crate) struct Ledger {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    ttl: Duration,
    /// The secret of [`Ledger::key`].
    seed: u64,
}

impl Ledger {
    /// A ledger keeping about `capacity` records for at most `ttl`.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            ttl,
            seed: rand::random(),
        }
    }

    fn key(&self, id: &str) -> Key {
        xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), self.seed)
    }

    /// The shard of `key`, by its high bits (the map's buckets use the low ones).
    fn shard(&self, key: Key) -> std::sync::MutexGuard<'_, Shard> {
        let i = (key >> 64) as usize % SHARDS;
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an answered prediction; a request id seen before is replaced.
    pub(crate) fn insert(&self, id: &str, record: Record) {
        let now = record.at;
        let key = self.key(id);
        let mut shard = self.shard(key);
        evict(&mut shard, self.per_shard.saturating_sub(1), now, self.ttl);
        if shard.records.insert(key, record).is_none() {
            shard.order.push_back((key, now));
        }
    }

    /// Runs `f` on the record of `id`, if it is still held.
    pub(crate) fn with<T>(
        &self,
        id: &str,
        now: Instant,
        f: impl FnOnce(&mut Record) -> T,
    ) -> Result<T, Missing> {
        let key = self.key(id);
        let mut shard = self.shard(key);
        let ttl = self.ttl;
        match shard.records.get_mut(&key) {
            Some(r) if now.saturating_duration_since(r.at) > ttl => Err(Missing::Expired),
            Some(r) => Ok(f(r)),
            None => Err(Missing::Unknown),
        }
    }

    /// Records held now (expired ones included until evicted).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .records
                    .len()
            })
            .sum()
    }
}

/// Drops records past the TTL, then the oldest until at most `keep` remain.
/// Runs on every insert, so the oldest entry is only looked at (not copied) until it must go.
fn evict(shard: &mut Shard, keep: usize, now: Instant, ttl: Duration) {
    while let Some(&(_, at)) = shard.order.front() {
        let stale = now.saturating_duration_since(at) > ttl;
        if !stale && shard.order.len() <= keep {
            break;
        }
        if let Some((key, _)) = shard.order.pop_front() {
            shard.records.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Recorder;

    fn record(at: Instant) -> Record {
        let stats = Recorder::default().stats(
            crate::telemetry::VersionKey {
                service: "s".into(),
                version: "v".into(),
            },
            None,
        );
        Record {
            service: "s".into(),
            version: "v".into(),
            stats,
            predicted: Predicted::Classes(vec![1]),
            at,
            shadow: None,
            labelled: false,
            rewarded: false,
        }
    }

    #[test]
    fn finds_what_it_holds_and_not_what_it_never_saw() {
        let l = Ledger::new(100, Duration::from_secs(60));
        let t = Instant::now();
        l.insert("a", record(t));
        assert_eq!(l.with("a", t, |r| r.version.to_string()), Ok("v".into()));
        assert_eq!(l.with("b", t, |_| ()), Err(Missing::Unknown));
    }

    #[test]
    fn ids_are_keyed_with_a_secret_of_each_ledger() {
        let (a, b) = (
            Ledger::new(10, Duration::from_secs(1)),
            Ledger::new(10, Duration::from_secs(1)),
        );
        assert_eq!(a.key("req-1"), a.key("req-1"));
        assert_ne!(a.key("req-1"), a.key("req-2"));
        // What a client can predict of one gateway's keys says nothing of another's.
        assert_ne!(a.key("req-1"), b.key("req-1"));
    }

    #[test]
    fn old_records_expire() {
        let l = Ledger::new(100, Duration::from_secs(60));
        let t = Instant::now();
        l.insert("a", record(t));
        let later = t + Duration::from_secs(61);
        assert_eq!(l.with("a", later, |_| ()), Err(Missing::Expired));
    }

    #[test]
    fn capacity_is_bounded_oldest_first() {
        let l = Ledger::new(SHARDS * 2, Duration::from_secs(60));
        let t = Instant::now();
        for i in 0..1000 {
            l.insert(&format!("id-{i}"), record(t));
        }
        assert!(l.len() <= SHARDS * 2, "{} records held", l.len());
        assert!(l.with("id-999", t, |_| ()).is_ok(), "the newest is kept");
        assert_eq!(l.with("id-0", t, |_| ()), Err(Missing::Unknown));
    }
}
