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

/// The instances serving at one point of a rolling update: the old version's from index
/// `retired` on, and the new version's first `admitted`. Instances are taken in the order the
/// versions list them, so the set is a function of these two numbers and a restart can
/// rebuild it from the persisted progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Serving {
    /// Old instances no longer serving (the first ones of the old list).
    pub retired: u32,
    /// New instances serving (the first ones of the new list).
    pub admitted: u32,
}

impl Serving {
    /// Instances serving, old and new.
    pub fn total(&self, old_total: u32) -> u32 {
        old_total.saturating_sub(self.retired) + self.admitted
    }

    /// The new version's share of traffic in basis points, so that every serving instance,
    /// old or new, takes the same share (0 when nothing serves).
    pub fn candidate_bps(&self, old_total: u32) -> u32 {
        let total = u64::from(self.total(old_total));
        if total == 0 {
            return 0;
        }
        (u64::from(self.admitted) * u64::from(crate::route::TOTAL_BPS) / total) as u32
    }

    fn apply(&mut self, m: Move) {
        match m {
            Move::Admit(i) => self.admitted = self.admitted.max(i + 1),
            Move::Retire(n) => self.retired = self.retired.max(n),
        }
    }
}

/// One move of a batch, carried out in order by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Move {
    /// Probe the new instance at this index; once ready it serves (then report it).
    Admit(u32),
    /// Stop sending traffic to old instances until this many of them are retired.
    Retire(u32),
}

/// Old instances retired once `replaced` of `new_total` new instances serve: in proportion,
/// rounded down so capacity goes first, and every one of them once all new ones serve.
pub fn retired_after(replaced: u32, old_total: u32, new_total: u32) -> u32 {
    if new_total == 0 || replaced >= new_total {
        return old_total;
    }
    (u64::from(replaced) * u64::from(old_total) / u64::from(new_total)) as u32
}

/// The moves of batch `b` when `replaced` new instances already serve: its `surge` new
/// instances first, then the old ones it replaces retire, then its remaining new ones.
/// With equal counts, serving capacity stays within `[N - max_unavailable, N + max_surge]`.
pub fn batch_moves(b: Batch, replaced: u32, old_total: u32, new_total: u32) -> Vec<Move> {
    let end = replaced.saturating_add(b.count).min(new_total);
    let surge_end = replaced.saturating_add(b.surge).min(end);
    let mut moves: Vec<Move> = (replaced..surge_end).map(Move::Admit).collect();
    moves.push(Move::Retire(retired_after(end, old_total, new_total)));
    moves.extend((surge_end..end).map(Move::Admit));
    moves
}

/// Where a batch resumes when `ready` of its new instances were already reported ready (a
/// restart in the middle of it): the set that should be serving, and the moves left.
pub fn resume(
    b: Batch,
    replaced: u32,
    ready: u32,
    old_total: u32,
    new_total: u32,
) -> (Serving, Vec<Move>) {
    let mut at = Serving {
        retired: retired_after(replaced, old_total, new_total),
        admitted: replaced,
    };
    let moves = batch_moves(b, replaced, old_total, new_total);
    let mut admits = 0;
    let mut rest = moves.len();
    for (i, m) in moves.iter().enumerate() {
        if let Move::Admit(_) = m {
            if admits == ready {
                rest = i;
                break;
            }
            admits += 1;
        }
        at.apply(*m);
    }
    (at, moves[rest..].to_vec())
}

/// The set serving after every move of `moves` from `at`.
pub fn after(mut at: Serving, moves: &[Move]) -> Serving {
    for m in moves {
        at.apply(*m);
    }
    at
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_batch_surges_then_retires_then_fills() {
        let b = Batch { count: 2, surge: 1 };
        assert_eq!(
            batch_moves(b, 0, 3, 3),
            vec![Move::Admit(0), Move::Retire(2), Move::Admit(1)]
        );
        let last = Batch { count: 1, surge: 1 };
        assert_eq!(
            batch_moves(last, 2, 3, 3),
            vec![Move::Admit(2), Move::Retire(3)]
        );
        let no_surge = Batch { count: 1, surge: 0 };
        assert_eq!(
            batch_moves(no_surge, 0, 2, 2),
            vec![Move::Retire(1), Move::Admit(0)]
        );
    }

    #[test]
    fn shares_follow_the_instances() {
        let s = Serving {
            retired: 1,
            admitted: 1,
        };
        assert_eq!(s.total(3), 3);
        assert_eq!(s.candidate_bps(3), 3333);
        assert_eq!(Serving::default().candidate_bps(3), 0);
        let done = Serving {
            retired: 3,
            admitted: 3,
        };
        assert_eq!(done.candidate_bps(3), 10_000);
        let none = Serving {
            retired: 1,
            admitted: 0,
        };
        assert_eq!(
            none.candidate_bps(1),
            0,
            "nothing serving: no division by zero"
        );
    }

    #[test]
    fn a_restart_resumes_after_the_ready_instances() {
        let b = Batch { count: 2, surge: 1 };
        let (at, rest) = resume(b, 0, 0, 3, 3);
        assert_eq!(at, Serving::default());
        assert_eq!(rest, batch_moves(b, 0, 3, 3));
        let (at, rest) = resume(b, 0, 1, 3, 3);
        assert_eq!(
            at,
            Serving {
                retired: 2,
                admitted: 1
            }
        );
        assert_eq!(rest, vec![Move::Admit(1)]);
    }

    #[test]
    fn unequal_counts_retire_in_proportion() {
        assert_eq!(retired_after(1, 4, 2), 2);
        assert_eq!(retired_after(1, 2, 4), 0);
        assert_eq!(retired_after(4, 2, 4), 2);
        assert_eq!(retired_after(0, 3, 0), 3);
    }

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

    /// Every set a whole rolling update passes through, batch after batch.
    fn walk(old: u32, new: u32, surge: u32, unavail: u32) -> Vec<Serving> {
        let mut at = Serving::default();
        let mut seen = vec![at];
        let mut replaced = 0;
        for b in batches(new, surge, unavail) {
            for m in batch_moves(b, replaced, old, new) {
                at.apply(m);
                seen.push(at);
            }
            replaced += b.count;
        }
        seen
    }

    proptest! {
        #[test]
        fn capacity_stays_within_surge_and_unavailable(
            n in 1u32..40, surge in 0u32..5, unavail in 0u32..5
        ) {
            prop_assume!(surge + unavail >= 1);
            let seen = walk(n, n, surge, unavail);
            for s in &seen {
                prop_assert!(s.total(n) + unavail >= n, "{s:?} below capacity");
                prop_assert!(s.total(n) <= n + surge, "{s:?} above surge");
            }
            let end = seen.last().copied().unwrap_or_default();
            prop_assert_eq!(end, Serving { retired: n, admitted: n });
        }

        #[test]
        fn any_counts_end_with_only_new_instances(
            old in 0u32..20, new in 0u32..20, surge in 0u32..4, unavail in 0u32..4
        ) {
            let seen = walk(old, new, surge, unavail);
            for w in seen.windows(2) {
                prop_assert!(w[1].retired >= w[0].retired && w[1].admitted >= w[0].admitted);
            }
            let end = seen.last().copied().unwrap_or_default();
            prop_assert_eq!(end.admitted, new);
            if new > 0 {
                prop_assert_eq!(end.retired, old);
            }
        }

        #[test]
        fn resuming_equals_having_done_the_ready_moves(
            count in 1u32..6, surge in 0u32..6, replaced in 0u32..10, ready in 0u32..6
        ) {
            let b = Batch { count, surge: surge.min(count) };
            prop_assume!(ready < count);
            let (old, new) = (replaced + count, replaced + count);
            let (at, rest) = resume(b, replaced, ready, old, new);
            let start = Serving { retired: retired_after(replaced, old, new), admitted: replaced };
            let full = after(start, &batch_moves(b, replaced, old, new));
            prop_assert_eq!(after(at, &rest), full);
            prop_assert_eq!(at.admitted, replaced + ready);
            let admits = rest.iter().filter(|m| matches!(m, Move::Admit(_))).count() as u32;
            prop_assert_eq!(admits, count - ready);
        }

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
