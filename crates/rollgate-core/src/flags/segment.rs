//! Segments: named audiences shared between flags, so "beta markets" is defined once.

use super::clause::Clause;
use super::context::Context;
use std::collections::HashSet;

/// A compiled segment. Membership: an included key is in, an excluded key is out, anyone
/// else is in when every clause matches (a segment without clauses is its included list).
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) included: HashSet<String>,
    pub(crate) excluded: HashSet<String>,
    pub(crate) clauses: Vec<Clause>,
}

impl Segment {
    /// Whether the context belongs to the segment.
    pub(crate) fn contains(&self, ctx: &Context<'_>) -> bool {
        if let Some(key) = ctx.key() {
            if self.included.contains(key) {
                return true;
            }
            if self.excluded.contains(key) {
                return false;
            }
        }
        !self.clauses.is_empty() && self.clauses.iter().all(|c| c.matches(ctx))
    }
}
