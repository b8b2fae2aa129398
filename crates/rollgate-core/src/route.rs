//! Route tables: the validated, immutable description of who gets which version of a service.
//!
//! A [`RouteTable`] cannot hold an invalid split: weights are basis points that always sum to
//! 10,000, every version it names exists, and the stable version is one of them. The decision
//! function over it lives in [`crate::router`].

use std::fmt;

/// Total of a split in basis points (100% = 10,000 bp), so 0.01% steps are exact.
pub const TOTAL_BPS: u32 = 10_000;

/// Index of a version inside its service's version list (stable for a table's lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionIdx(pub u16);

/// Where the sticky key of a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickySource {
    /// A request header, e.g. `x-user-id`.
    Header(String),
    /// A cookie, e.g. `uid`.
    Cookie(String),
    /// A top-level field of the JSON body, e.g. `user_id`.
    JsonField(String),
}

/// Which per-request overrides a service honours.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overrides {
    /// Header whose value `always` sends to the candidate and `never` to stable (NGINX ingress's
    /// `canary-by-header` convention). `None`: not honoured.
    pub canary_header: Option<String>,
    /// Cookie whose value names a version to pin the request to. `None`: not honoured.
    pub pin_cookie: Option<String>,
}

/// Mirroring: a share of requests is also sent to another version, whose answer is not returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mirror {
    /// Version receiving the copies.
    pub target: VersionIdx,
    /// Share of requests mirrored, in basis points.
    pub bps: u32,
}

/// Why a route table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The table names no version.
    #[error("a route needs at least one version")]
    NoVersions,
    /// Two versions share a name.
    #[error("version `{0}` is listed twice")]
    DuplicateVersion(String),
    /// Weights do not sum to 100%.
    #[error("weights sum to {}%, they must sum to 100%", fmt_bps(*.0))]
    WeightsSum(u32),
    /// A name does not match any version of the service.
    #[error("unknown version `{0}`")]
    UnknownVersion(String),
    /// A percentage is out of range or finer than 0.01%.
    #[error("{0} is not a percentage between 0 and 100 with at most two decimals")]
    BadPercent(String),
    /// Mirroring to the version that already serves all traffic would compare it with itself.
    #[error("mirror target `{0}` must not be the stable version")]
    MirrorToStable(String),
    /// The candidate is what stable is compared against; naming one version both is a typo.
    #[error("candidate `{0}` must not be the stable version")]
    CandidateIsStable(String),
}

/// Formats basis points as a percentage without float noise (`250` → `2.5`).
pub fn fmt_bps(bps: u32) -> String {
    let whole = bps / 100;
    let frac = bps % 100;
    match frac {
        0 => format!("{whole}"),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// Converts a percentage such as `0.5` or `25` into basis points, refusing finer than 0.01%.
pub fn percent_to_bps(percent: f64) -> Result<u32, RouteError> {
    let bps = (percent * 100.0).round();
    let exact = (percent * 100.0 - bps).abs() < 1e-6;
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) || !exact {
        return Err(RouteError::BadPercent(percent.to_string()));
    }
    Ok(bps as u32)
}

/// The validated route table of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    versions: Vec<String>,
    weights: Vec<u32>,
    stable: VersionIdx,
    candidate: Option<VersionIdx>,
    sticky: Option<StickySource>,
    salt: String,
    overrides: Overrides,
    mirror: Option<Mirror>,
}

/// The unvalidated parts of a route table, by version name; [`RouteSpec::build`] checks them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteSpec {
    /// All versions of the service, in declaration order.
    pub versions: Vec<String>,
    /// Weight of each version named here, in basis points; unnamed versions get 0.
    pub weights: Vec<(String, u32)>,
    /// Stable version; defaults to the version with the largest weight (first on ties).
    pub stable: Option<String>,
    /// Candidate for `x-canary: always`; defaults to the heaviest non-stable version.
    pub candidate: Option<String>,
    /// Sticky key source, if any.
    pub sticky: Option<StickySource>,
    /// Salt mixed into sticky hashing; changing it reshuffles users.
    pub salt: String,
    /// Honoured overrides.
    pub overrides: Overrides,
    /// Mirror target name and share in basis points.
    pub mirror: Option<(String, u32)>,
}

impl RouteSpec {
    /// Validates the spec into a [`RouteTable`].
    pub fn build(self) -> Result<RouteTable, RouteError> {
        if self.versions.is_empty() {
            return Err(RouteError::NoVersions);
        }
        check_unique(&self.versions)?;
        let index = |name: &str| -> Result<VersionIdx, RouteError> {
            self.versions
                .iter()
                .position(|v| v == name)
                .map(|i| VersionIdx(i as u16))
                .ok_or_else(|| RouteError::UnknownVersion(name.to_owned()))
        };
        let mut weights = vec![0u32; self.versions.len()];
        for (name, bps) in &self.weights {
            if *bps > TOTAL_BPS {
                return Err(RouteError::BadPercent(fmt_bps(*bps)));
            }
            weights[index(name)?.0 as usize] = *bps;
        }
        let sum: u32 = weights.iter().sum();
        if sum != TOTAL_BPS {
            return Err(RouteError::WeightsSum(sum));
        }
        let stable = match &self.stable {
            Some(name) => index(name)?,
            None => heaviest(&weights, None),
        };
        let candidate = match &self.candidate {
            Some(name) if index(name)? == stable => {
                return Err(RouteError::CandidateIsStable(name.clone()))
            }
            Some(name) => Some(index(name)?),
            None if weights.len() > 1 => Some(heaviest(&weights, Some(stable))),
            None => None,
        };
        let mirror = match &self.mirror {
            None => None,
            Some((name, bps)) => Some(build_mirror(index(name)?, *bps, stable, name)?),
        };
        Ok(RouteTable {
            versions: self.versions,
            weights,
            stable,
            candidate,
            sticky: self.sticky,
            salt: self.salt,
            overrides: self.overrides,
            mirror,
        })
    }
}

fn build_mirror(
    target: VersionIdx,
    bps: u32,
    stable: VersionIdx,
    name: &str,
) -> Result<Mirror, RouteError> {
    if bps > TOTAL_BPS {
        return Err(RouteError::BadPercent(fmt_bps(bps)));
    }
    if target == stable {
        return Err(RouteError::MirrorToStable(name.to_owned()));
    }
    Ok(Mirror { target, bps })
}

fn check_unique(versions: &[String]) -> Result<(), RouteError> {
    for (i, v) in versions.iter().enumerate() {
        if versions[..i].contains(v) {
            return Err(RouteError::DuplicateVersion(v.clone()));
        }
    }
    Ok(())
}

/// The version with the largest weight, skipping `except`; first declared wins ties.
fn heaviest(weights: &[u32], except: Option<VersionIdx>) -> VersionIdx {
    let mut best: Option<(usize, u32)> = None;
    for (i, &w) in weights.iter().enumerate() {
        if Some(VersionIdx(i as u16)) == except {
            continue;
        }
        if best.is_none_or(|(_, bw)| w > bw) {
            best = Some((i, w));
        }
    }
    VersionIdx(best.map_or(0, |(i, _)| i) as u16)
}

impl RouteTable {
    /// A table sending everything to a single version.
    pub fn single(version: &str) -> Self {
        RouteSpec {
            versions: vec![version.to_owned()],
            weights: vec![(version.to_owned(), TOTAL_BPS)],
            ..RouteSpec::default()
        }
        .build()
        .unwrap_or_else(|_| unreachable!("a single version at 100% is always valid"))
    }

    /// The spec this table was built from (with defaults made explicit), to derive a changed
    /// table: edit the spec, build again.
    pub fn to_spec(&self) -> RouteSpec {
        RouteSpec {
            versions: self.versions.clone(),
            weights: self
                .versions
                .iter()
                .zip(&self.weights)
                .filter(|(_, w)| **w > 0)
                .map(|(v, w)| (v.clone(), *w))
                .collect(),
            stable: Some(self.name(self.stable).to_owned()),
            candidate: self.candidate.map(|c| self.name(c).to_owned()),
            sticky: self.sticky.clone(),
            salt: self.salt.clone(),
            overrides: self.overrides.clone(),
            mirror: self.mirror.map(|m| (self.name(m.target).to_owned(), m.bps)),
        }
    }

    /// Version names, indexable by [`VersionIdx`].
    pub fn versions(&self) -> &[String] {
        &self.versions
    }

    /// Name of a version.
    pub fn name(&self, idx: VersionIdx) -> &str {
        &self.versions[idx.0 as usize]
    }

    /// Index of a version by name.
    pub fn index_of(&self, name: &str) -> Option<VersionIdx> {
        self.versions
            .iter()
            .position(|v| v == name)
            .map(|i| VersionIdx(i as u16))
    }

    /// Weight of a version in basis points.
    pub fn weight(&self, idx: VersionIdx) -> u32 {
        self.weights[idx.0 as usize]
    }

    /// All weights in basis points, in version order.
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// The stable version.
    pub fn stable(&self) -> VersionIdx {
        self.stable
    }

    /// The candidate, if the service has more than one version.
    pub fn candidate(&self) -> Option<VersionIdx> {
        self.candidate
    }

    /// Where the sticky key comes from, if any.
    pub fn sticky(&self) -> Option<&StickySource> {
        self.sticky.as_ref()
    }

    /// Salt for sticky hashing.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// Honoured overrides.
    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// Mirroring, if configured.
    pub fn mirror(&self) -> Option<Mirror> {
        self.mirror
    }

    /// The bucket layout: each version's half-open range of the 10,000 buckets.
    ///
    /// Non-stable versions are laid out from bucket 0 in declaration order and stable takes the
    /// top, so raising one candidate's weight at stable's expense only moves users from stable
    /// onto that candidate when it is the last non-stable version with weight, and never moves a
    /// user between two candidates whose weights did not change.
    pub fn layout(&self) -> impl Iterator<Item = (VersionIdx, u32, u32)> + '_ {
        let order = (0..self.versions.len() as u16)
            .map(VersionIdx)
            .filter(move |&v| v != self.stable)
            .chain(std::iter::once(self.stable));
        let mut start = 0u32;
        order.map(move |v| {
            let end = start + self.weight(v);
            let range = (v, start, end);
            start = end;
            range
        })
    }
}

impl fmt::Display for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .versions
            .iter()
            .zip(&self.weights)
            .map(|(v, w)| format!("{v}={}%", fmt_bps(*w)))
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(weights: &[(&str, u32)]) -> RouteSpec {
        RouteSpec {
            versions: weights.iter().map(|(v, _)| v.to_string()).collect(),
            weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            ..RouteSpec::default()
        }
    }

    #[test]
    fn percentages_convert_exactly() {
        assert_eq!(percent_to_bps(0.5), Ok(50));
        assert_eq!(percent_to_bps(1.0), Ok(100));
        assert_eq!(percent_to_bps(33.33), Ok(3333));
        assert_eq!(percent_to_bps(100.0), Ok(10_000));
        assert!(percent_to_bps(0.001).is_err());
        assert!(percent_to_bps(-1.0).is_err());
        assert!(percent_to_bps(100.5).is_err());
        assert!(percent_to_bps(f64::NAN).is_err());
    }

    #[test]
    fn bps_format_without_float_noise() {
        assert_eq!(fmt_bps(50), "0.5");
        assert_eq!(fmt_bps(5), "0.05");
        assert_eq!(fmt_bps(2500), "25");
        assert_eq!(fmt_bps(3333), "33.33");
    }

    #[test]
    fn weights_must_sum_to_100() {
        let err = spec(&[("v1", 9000), ("v2", 500)]).build().unwrap_err();
        assert_eq!(err, RouteError::WeightsSum(9500));
        assert_eq!(err.to_string(), "weights sum to 95%, they must sum to 100%");
    }

    #[test]
    fn duplicates_and_unknown_names_are_refused() {
        let dup = spec(&[("v1", 5000), ("v1", 5000)]).build().unwrap_err();
        assert_eq!(dup, RouteError::DuplicateVersion("v1".into()));
        let mut s = spec(&[("v1", 10_000)]);
        s.weights.push(("v9".into(), 0));
        assert_eq!(s.build(), Err(RouteError::UnknownVersion("v9".into())));
    }

    #[test]
    fn stable_and_candidate_default_to_heaviest() {
        let t = spec(&[("v1", 9000), ("v2", 1000)]).build().unwrap();
        assert_eq!(t.name(t.stable()), "v1");
        assert_eq!(t.candidate().map(|c| t.name(c)), Some("v2"));
        let t = spec(&[("a", 0), ("b", 10_000), ("c", 0)]).build().unwrap();
        assert_eq!(t.name(t.stable()), "b");
        assert_eq!(t.candidate().map(|c| t.name(c)), Some("a"));
    }

    #[test]
    fn candidate_cannot_be_stable() {
        let mut s = spec(&[("v1", 10_000), ("v2", 0)]);
        s.stable = Some("v1".into());
        s.candidate = Some("v1".into());
        assert_eq!(
            s.build().unwrap_err(),
            RouteError::CandidateIsStable("v1".into())
        );
    }

    #[test]
    fn mirror_cannot_target_stable() {
        let mut s = spec(&[("v1", 10_000), ("v2", 0)]);
        s.mirror = Some(("v1".into(), 10_000));
        assert_eq!(s.build(), Err(RouteError::MirrorToStable("v1".into())));
        let mut s = spec(&[("v1", 10_000), ("v2", 0)]);
        s.mirror = Some(("v2".into(), 2500));
        let t = s.build().unwrap();
        assert_eq!(t.mirror().map(|m| m.bps), Some(2500));
    }

    #[test]
    fn layout_puts_stable_last_and_covers_all_buckets() {
        let mut s = spec(&[("v1", 7000), ("v2", 2000), ("v3", 1000)]);
        s.stable = Some("v1".into());
        let t = s.build().unwrap();
        let layout: Vec<_> = t.layout().collect();
        assert_eq!(
            layout,
            vec![
                (VersionIdx(1), 0, 2000),
                (VersionIdx(2), 2000, 3000),
                (VersionIdx(0), 3000, 10_000)
            ]
        );
        assert_eq!(t.to_string(), "v1=70% v2=20% v3=10%");
    }
}
