//! The demo's synthetic users: a pure, seeded sequence of prediction requests over the 150
//! iris rows, with a little noise on the features, some users identified (and so sticky) by
//! `x-user-id`, and for each request the delay after which its label arrives and the draw
//! that decides whether the user converts in the A/B test.
//!
//! Everything random is drawn here, from the seed alone, so the same `--seed` sends the same
//! traffic; the driver only paces it and reports what the gateway answered.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// All iris rows, embedded so the demo runs from any directory.
const IRIS_CSV: &str = include_str!("../../../../../models/iris-all.csv");

/// Largest change of a feature by the noise, in cm: small next to the gaps between classes,
/// large enough that no two requests are byte-identical.
pub(crate) const NOISE_CM: f32 = 0.1;

/// Share of requests from signed-in users, who carry `x-user-id` and stay on one version.
const STICKY_SHARE: f64 = 0.3;

/// Signed-in users: many, so each has few requests and a sticky split stays close to the
/// planned one (a few heavy users would trip the A/B test's sample-ratio check).
const USERS: u32 = 500;

/// Label delays at speed 1, milliseconds: ground truth arrives well after the answer.
pub(crate) const DELAY_MS: std::ops::RangeInclusive<u64> = 200..=1500;

/// Why the embedded rows could not be read (a broken build, not a user error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrafficError {
    #[error("iris-all.csv line {line}: {problem}")]
    BadRow { line: usize, problem: RowError },
}

/// What is wrong with one row of the embedded CSV.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RowError {
    #[error("expected 5 cells, got {0}")]
    Cells(usize),
    #[error("`{cell}`: {source}")]
    Feature {
        cell: String,
        source: std::num::ParseFloatError,
    },
    #[error("label `{cell}`: {source}")]
    Label {
        cell: String,
        source: std::num::ParseIntError,
    },
}

/// One iris flower: four measurements and its class index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Row {
    pub(crate) features: [f32; 4],
    pub(crate) label: u8,
}

/// Parses the embedded CSV (header, then `f,f,f,f,label`).
pub(crate) fn rows() -> Result<Arc<[Row]>, TrafficError> {
    IRIS_CSV
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_row(l).map_err(|problem| TrafficError::BadRow {
                line: i + 1,
                problem,
            })
        })
        .collect()
}

fn parse_row(line: &str) -> Result<Row, RowError> {
    let cells: Vec<&str> = line.split(',').map(str::trim).collect();
    let [a, b, c, d, label] = cells[..] else {
        return Err(RowError::Cells(cells.len()));
    };
    let f = |s: &str| {
        s.parse::<f32>().map_err(|source| RowError::Feature {
            cell: s.to_owned(),
            source,
        })
    };
    Ok(Row {
        features: [f(a)?, f(b)?, f(c)?, f(d)?],
        label: label.parse().map_err(|source| RowError::Label {
            cell: label.to_owned(),
            source,
        })?,
    })
}

/// One request the demo will send, and what happens after it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    /// Sent as `x-request-id`, and quoted by the feedback.
    pub(crate) id: String,
    /// Index of the iris row the features come from.
    pub(crate) row: usize,
    /// The row's features plus noise, rounded to 0.01 cm.
    pub(crate) features: [f32; 4],
    /// The true class, sent as the late label.
    pub(crate) label: u8,
    /// `x-user-id` of a signed-in user; `None` for an anonymous request.
    pub(crate) user: Option<String>,
    /// How long after the answer the label (or reward) is sent, at speed 1.
    pub(crate) delay_ms: u64,
    /// Uniform in [0, 1): the user converts when it falls below the served variant's rate.
    pub(crate) conversion_draw: f64,
}

/// The seeded sequence of requests of one phase.
pub(crate) struct Generator {
    rng: StdRng,
    rows: Arc<[Row]>,
    tag: String,
    sent: u64,
}

impl Generator {
    /// The sequence for `seed` and a phase `tag`; the tag keeps request ids unique across
    /// phases and gives each phase its own draws.
    pub(crate) fn new(rows: Arc<[Row]>, seed: u64, tag: &str) -> Self {
        let salt = xxhash_rust::xxh3::xxh3_64(tag.as_bytes());
        Self {
            rng: StdRng::seed_from_u64(seed ^ salt),
            rows,
            tag: tag.to_owned(),
            sent: 0,
        }
    }
}

impl Iterator for Generator {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        if self.rows.is_empty() {
            return None;
        }
        let row = self.rng.random_range(0..self.rows.len());
        let base = self.rows[row];
        let mut features = base.features;
        for f in &mut features {
            let noisy = *f + self.rng.random_range(-NOISE_CM..=NOISE_CM);
            *f = (noisy.max(0.0) * 100.0).round() / 100.0;
        }
        let user = self
            .rng
            .random_bool(STICKY_SHARE)
            .then(|| format!("user-{}", self.rng.random_range(0..USERS)));
        let planned = Planned {
            id: format!("demo-{}-{}", self.tag, self.sent),
            row,
            features,
            label: base.label,
            user,
            delay_ms: self.rng.random_range(DELAY_MS),
            conversion_draw: self.rng.random(),
        };
        self.sent += 1;
        Some(planned)
    }
}

/// A short digest of the first `n` requests of a phase, printed so two runs can be compared
/// at a glance: same seed, same digest.
pub(crate) fn fingerprint(rows: &Arc<[Row]>, seed: u64, tag: &str, n: usize) -> u64 {
    let mut text = String::new();
    for p in Generator::new(Arc::clone(rows), seed, tag).take(n) {
        text.push_str(&format!("{p:?}\n"));
    }
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn take(seed: u64, tag: &str, n: usize) -> Vec<Planned> {
        Generator::new(rows().unwrap(), seed, tag).take(n).collect()
    }

    #[test]
    fn the_embedded_rows_are_all_150_flowers_of_three_classes() {
        let rows = rows().unwrap();
        assert_eq!(rows.len(), 150);
        for class in 0..3 {
            assert_eq!(rows.iter().filter(|r| r.label == class).count(), 50);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        assert_eq!(take(7, "p1", 500), take(7, "p1", 500));
        let rows = rows().unwrap();
        assert_eq!(
            fingerprint(&rows, 7, "p1", 500),
            fingerprint(&rows, 7, "p1", 500)
        );
    }

    #[test]
    fn seeds_and_phases_give_different_sequences() {
        assert_ne!(take(7, "p1", 50), take(8, "p1", 50));
        let (a, b) = (take(7, "p1", 50), take(7, "p2", 50));
        assert_ne!(
            a.iter().map(|p| p.row).collect::<Vec<_>>(),
            b.iter().map(|p| p.row).collect::<Vec<_>>()
        );
        assert!(a.iter().zip(&b).all(|(x, y)| x.id != y.id));
    }

    #[test]
    fn noise_is_small_and_labels_are_the_rows_own() {
        let rows = rows().unwrap();
        for p in take(3, "p1", 2000) {
            let base = rows[p.row];
            assert_eq!(p.label, base.label);
            for (f, b) in p.features.iter().zip(base.features) {
                assert!((f - b).abs() <= NOISE_CM + 0.006, "{p:?} vs {base:?}");
                assert!(*f >= 0.0);
            }
        }
    }

    #[test]
    fn some_users_are_sticky_and_delays_and_draws_are_in_range() {
        let all = take(11, "p3", 4000);
        let sticky = all.iter().filter(|p| p.user.is_some()).count() as f64 / 4000.0;
        assert!((0.25..0.35).contains(&sticky), "{sticky}");
        assert!(all.iter().all(|p| DELAY_MS.contains(&p.delay_ms)));
        assert!(all.iter().all(|p| (0.0..1.0).contains(&p.conversion_draw)));
        let ids: std::collections::HashSet<_> = all.iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), all.len(), "request ids are unique");
    }
}
