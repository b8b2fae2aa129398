//! The instances of an HTTP version and their passive health.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct Instance {
    authority: String,
    failures: AtomicU32,
    /// Milliseconds since `Instances::epoch` until which the instance is ejected.
    ejected_until_ms: AtomicU64,
}

/// Instances with round-robin selection and consecutive-failure ejection.
#[derive(Debug)]
pub(super) struct Instances {
    all: Vec<Instance>,
    next: AtomicUsize,
    eject_after: u32,
    eject_for: Duration,
    epoch: Instant,
}

impl Instances {
    pub(super) fn new(urls: &[String], eject_after: u32, eject_for: Duration) -> Self {
        let all = urls
            .iter()
            .map(|u| Instance {
                authority: u
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_owned(),
                failures: AtomicU32::new(0),
                ejected_until_ms: AtomicU64::new(0),
            })
            .collect();
        Self {
            all,
            next: AtomicUsize::new(0),
            eject_after,
            eject_for,
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn healthy(&self, i: usize, now: u64) -> bool {
        self.all[i].ejected_until_ms.load(Relaxed) <= now
    }

    /// True when at least one instance is not ejected.
    pub(super) fn any_healthy(&self) -> bool {
        let now = self.now_ms();
        (0..self.all.len()).any(|i| self.healthy(i, now))
    }

    /// The order in which to try instances for one request: healthy ones first, round-robin,
    /// then (when all are ejected) every instance anyway.
    pub(super) fn attempts(&self) -> Vec<usize> {
        let n = self.all.len();
        let start = self.next.fetch_add(1, Relaxed);
        let now = self.now_ms();
        let order = (0..n).map(|k| (start + k) % n);
        let healthy: Vec<usize> = order.clone().filter(|&i| self.healthy(i, now)).collect();
        if healthy.is_empty() {
            order.collect()
        } else {
            healthy
        }
    }

    /// One instance for a request that cannot be retried; `None` when the set is empty.
    pub(super) fn pick(&self) -> Option<usize> {
        self.attempts().first().copied()
    }

    /// `host:port` of an instance.
    pub(super) fn authority(&self, i: usize) -> &str {
        &self.all[i].authority
    }

    /// Feeds one outcome to passive health.
    pub(super) fn report(&self, i: usize, failed: bool) {
        let inst = &self.all[i];
        if !failed {
            inst.failures.store(0, Relaxed);
            return;
        }
        let failures = inst.failures.fetch_add(1, Relaxed) + 1;
        if failures >= self.eject_after {
            inst.failures.store(0, Relaxed);
            let until = self.now_ms() + self.eject_for.as_millis() as u64;
            inst.ejected_until_ms.store(until, Relaxed);
            tracing::warn!(instance = %inst.authority, ?self.eject_for, "instance ejected after {failures} consecutive failures");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Instances {
        let urls: Vec<String> = (1..=3)
            .map(|i| format!("http://127.0.0.1:900{i}/"))
            .collect();
        Instances::new(&urls, 2, Duration::from_secs(30))
    }

    #[test]
    fn round_robin_over_all_healthy() {
        let s = three();
        let firsts: Vec<Option<usize>> = (0..3).map(|_| s.pick()).collect();
        assert_eq!(firsts, vec![Some(0), Some(1), Some(2)]);
        assert_eq!(s.authority(0), "127.0.0.1:9001");
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_eject_then_cool_off() {
        let s = three();
        s.report(1, true);
        s.report(1, false);
        s.report(1, true);
        assert_eq!(s.attempts().len(), 3, "a success resets the count");
        s.report(1, true);
        assert!(!s.attempts().contains(&1), "ejected after 2 in a row");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(s.attempts().contains(&1), "back after the cool-off");
    }

    #[test]
    fn an_empty_set_picks_nothing() {
        let s = Instances::new(&[], 2, Duration::from_secs(30));
        assert_eq!(s.pick(), None);
        assert!(s.attempts().is_empty());
        assert!(!s.any_healthy());
    }

    #[tokio::test(start_paused = true)]
    async fn all_ejected_means_try_all() {
        let s = three();
        for i in 0..3 {
            s.report(i, true);
            s.report(i, true);
        }
        assert!(!s.any_healthy());
        assert_eq!(s.attempts().len(), 3);
    }
}
