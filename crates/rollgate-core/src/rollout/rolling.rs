//! Batches of a rolling update, Kubernetes-style: `max_surge` new instances may run above the
//! desired count and `max_unavailable` may be missing, so one batch replaces up to
//! `max_surge + max_unavailable` instances with capacity never below `N - max_unavailable`.

use serde::{Deserialize, Serialize};

/// One batch of a rolling update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Instances this batch replaces.
    pub count: u32,
    /// Of these, new instances started before any old one stops.
    pub surge: u32,
}

/// The batches replacing `instances` instances; empty when there are none.
///
/// `max_surge + max_unavailable` must be at least 1 (plan validation refuses 0 and 0); a zero
/// sum is treated as 1 so the function is total.
pub fn batches(instances: u32, max_surge: u32, max_unavailable: u32) -> Vec<Batch> {
    let per_batch = max_surge.saturating_add(max_unavailable).max(1);
    let mut out = Vec::new();
    let mut remaining = instances;
    while remaining > 0 {
        let count = per_batch.min(remaining);
        out.push(Batch {
            count,
            surge: max_surge.min(count),
        });
        remaining -= count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn surge_one_replaces_one_at_a_time() {
        let b = batches(3, 1, 0);
        assert_eq!(b, vec![Batch { count: 1, surge: 1 }; 3]);
    }

    #[test]
    fn surge_and_unavailable_add_up() {
        let b = batches(5, 2, 1);
        assert_eq!(
            b,
            vec![Batch { count: 3, surge: 2 }, Batch { count: 2, surge: 2 }]
        );
        assert_eq!(batches(4, 0, 2), vec![Batch { count: 2, surge: 0 }; 2]);
        assert!(batches(0, 1, 0).is_empty());
    }

    proptest! {
        #[test]
        fn batches_cover_every_instance_within_limits(
            n in 0u32..200, surge in 0u32..10, unavail in 0u32..10
        ) {
            let b = batches(n, surge, unavail);
            prop_assert_eq!(b.iter().map(|x| x.count).sum::<u32>(), n);
            for x in &b {
                prop_assert!(x.count >= 1);
                prop_assert!(x.count <= (surge + unavail).max(1));
                prop_assert!(x.surge <= surge && x.surge <= x.count);
                // Capacity never drops below N - max_unavailable (when surge + unavail >= 1).
                if surge + unavail >= 1 {
                    prop_assert!(x.count - x.surge <= unavail);
                }
            }
        }
    }
}
