//! The routing decision: which version serves a request, and whether a copy is mirrored.
//!
//! [`decide`] is a pure function of the route table, the facts read off the request (with the
//! service's routing flag, when it has one) and two uniform draws supplied by the caller, so it
//! is deterministic under test and the hot path only pays for a hash and a short scan.
//!
//! It is the one routing decision: the served version and the mirror are decided together, so
//! a copy never goes to the version that serves the request. In precedence order the served
//! version is the `x-canary` override's, the pin's, the routing flag's, then the sticky key's
//! bucket or the weighted draw; the mirror copies a share of requests to its target whenever
//! another version serves them. A user a flag sends to the mirror target is therefore served by
//! it and not mirrored, and shadow divergence compares only answers of two different versions.

use crate::config::ServiceFlags;
use crate::flags::Context;
use crate::route::{RouteTable, VersionIdx, TOTAL_BPS};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// What the router needs to know about a request; the gateway extracts it once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestFacts<'a> {
    /// Value of the sticky key (header, cookie or JSON field), when the route names one.
    pub sticky_key: Option<&'a str>,
    /// Value of the canary override header, when honoured and present.
    pub canary_header: Option<&'a str>,
    /// Version named by the pin cookie, when honoured and present.
    pub pinned: Option<&'a str>,
    /// The service's routing flag and the request's evaluation context, when the service
    /// routes by a flag (the caller builds the context only then).
    pub flag: Option<FlagFacts<'a>>,
}

/// A routing flag to evaluate for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlagFacts<'a> {
    /// The service's flags and the key of the one that routes.
    pub flags: &'a ServiceFlags,
    /// Who is asking: the user key and the request's attributes.
    pub context: &'a Context<'a>,
}

/// Two independent uniform draws in `0..10_000`, supplied by the caller's random source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draws {
    /// Used to pick a version when the request has no sticky key.
    pub route: u32,
    /// Used to decide whether the request is mirrored.
    pub mirror: u32,
}

/// Why a version was chosen; recorded so operators can see overrides at work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `x-canary: always`.
    ForcedCandidate,
    /// `x-canary: never`.
    ForcedStable,
    /// The pin cookie named this version.
    Pinned,
    /// The sticky key hashed into this version's buckets.
    Sticky,
    /// A random draw fell into this version's buckets.
    Weighted,
    /// The service's routing feature flag chose this version (after the overrides above).
    Flag,
}

/// The router's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The version whose answer the client gets.
    pub serve: VersionIdx,
    /// Why it was chosen.
    pub reason: Reason,
    /// A version that also receives a copy of the request, its answer only compared.
    pub mirror: Option<VersionIdx>,
}

/// The bucket (`0..10_000`) of a sticky key under a salt.
///
/// xxh3 with the salt's hash as seed: fast, well mixed, and the same on every replica, so a
/// user keeps their version across restarts and gateways (the approach of flagd and Unleash).
pub fn bucket(salt: &str, key: &str) -> u32 {
    let seed = xxh3_64_with_seed(salt.as_bytes(), 0);
    (xxh3_64_with_seed(key.as_bytes(), seed) % u64::from(TOTAL_BPS)) as u32
}

/// Decides which version serves the request and whether it is mirrored.
pub fn decide(table: &RouteTable, facts: &RequestFacts<'_>, draws: Draws) -> Decision {
    let (serve, reason) = choose(table, facts, draws.route);
    let mirror = table
        .mirror()
        .filter(|m| m.target != serve && draws.mirror < m.bps)
        .map(|m| m.target);
    Decision {
        serve,
        reason,
        mirror,
    }
}

fn choose(table: &RouteTable, facts: &RequestFacts<'_>, draw: u32) -> (VersionIdx, Reason) {
    if let Some(forced) = forced(table, facts.canary_header) {
        return forced;
    }
    if let Some(v) = facts.pinned.and_then(|name| table.index_of(name)) {
        return (v, Reason::Pinned);
    }
    if let Some(v) = facts.flag.and_then(|f| flagged(table, f)) {
        return (v, Reason::Flag);
    }
    match facts.sticky_key {
        Some(key) => (pick(table, bucket(table.salt(), key)), Reason::Sticky),
        None => (pick(table, draw % TOTAL_BPS), Reason::Weighted),
    }
}

/// The version the routing flag serves, when it names one of the table's versions (a flag
/// that errors or names an unknown version leaves the choice to the weights).
fn flagged(table: &RouteTable, f: FlagFacts<'_>) -> Option<VersionIdx> {
    let evaluation = f.flags.set.evaluate(&f.flags.route_by, f.context);
    table.index_of(evaluation.version?)
}

/// The NGINX-ingress header convention: only the exact values `always` and `never` count.
fn forced(table: &RouteTable, header: Option<&str>) -> Option<(VersionIdx, Reason)> {
    match header? {
        "always" => Some((
            table.candidate().unwrap_or(table.stable()),
            Reason::ForcedCandidate,
        )),
        "never" => Some((table.stable(), Reason::ForcedStable)),
        _ => None,
    }
}

/// The version owning `bucket` in the table's layout.
fn pick(table: &RouteTable, bucket: u32) -> VersionIdx {
    table
        .layout()
        .find(|&(_, start, end)| (start..end).contains(&bucket))
        .map_or(table.stable(), |(v, _, _)| v)
}

#[cfg(test)]
mod tests;
