//! Prometheus text exposition of the recorder, following the naming conventions
//! (`_total` counters, base units in the name, `service` and `version` labels).

use super::{ErrorKind, Recorder, VersionKey, VersionStats};
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;

/// Latency bucket bounds in seconds, from 250 µs to 10 s.
const LATENCY_BOUNDS: [f64; 15] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A source of extra per-version gauges (the live route weights), read at scrape time.
pub(crate) trait WeightSource: Send + Sync + std::fmt::Debug + 'static {
    /// `(service, version, share of traffic in 0..=1)` for every routed version.
    fn weights(&self) -> Vec<(String, String, f64)>;
    /// `(service, version, role)` for every version: `stable`, `candidate` or `other`, so that
    /// dashboards and alert rules can compare the two without guessing from the weights.
    fn roles(&self) -> Vec<(String, String, &'static str)>;
    /// The declared class names of a service, by label index (empty when undeclared).
    fn classes(&self, service: &str) -> Vec<String>;
}

/// Renders `/metrics`.
#[derive(Debug)]
pub(crate) struct Exposition {
    registry: Registry,
}

#[derive(Debug)]
struct Collector {
    recorder: Arc<Recorder>,
    weights: Arc<dyn WeightSource>,
}

impl Exposition {
    pub(crate) fn new(recorder: Arc<Recorder>, weights: Arc<dyn WeightSource>) -> Self {
        let mut registry = Registry::with_prefix("rollgate");
        registry.register_collector(Box::new(Collector { recorder, weights }));
        Self { registry }
    }

    /// The exposition text.
    pub(crate) fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn labels(key: &VersionKey) -> Labels<'_> {
    vec![("service", &key.service), ("version", &key.version)]
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let all = self.recorder.all();
        family(
            &mut enc,
            "requests",
            "Requests answered, by version.",
            None,
            MetricType::Counter,
            &all,
            |m, s| m.encode_counter::<NoLabelSet, _, u64>(&s.requests(), None),
        )?;
        encode_errors(&mut enc, &all)?;
        family(
            &mut enc,
            "requests_in_flight",
            "Requests being served now.",
            None,
            MetricType::Gauge,
            &all,
            |m, s| m.encode_gauge(&s.in_flight()),
        )?;
        family(
            &mut enc,
            "mirrored_requests",
            "Request copies mirrored to this version.",
            None,
            MetricType::Counter,
            &all,
            |m, s| m.encode_counter::<NoLabelSet, _, u64>(&s.mirror_counts().0, None),
        )?;
        family(
            &mut enc,
            "mirror_dropped",
            "Request copies not mirrored because the mirror queue was full.",
            None,
            MetricType::Counter,
            &all,
            |m, s| m.encode_counter::<NoLabelSet, _, u64>(&s.mirror_counts().1, None),
        )?;
        encode_outcomes(&mut enc, &all)?;
        encode_latency(&mut enc, &all)?;
        encode_classes(&mut enc, &all, self.weights.as_ref())?;
        encode_values(&mut enc, &all)?;
        encode_weights(&mut enc, self.weights.weights())?;
        encode_roles(&mut enc, self.weights.roles())
    }
}

fn family(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    all: &[(VersionKey, Arc<VersionStats>)],
    mut each: impl FnMut(&mut MetricEncoder<'_>, &VersionStats) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, unit, kind)?;
    for (key, stats) in all {
        let l = labels(key);
        each(&mut m.encode_family(&l)?, stats)?;
    }
    Ok(())
}

/// Feedback, invalid outputs and shadow comparisons: the counters accuracy, reward and
/// divergence are computed from (by PromQL, or by Rollgate's own analysis).
fn encode_outcomes(
    enc: &mut DescriptorEncoder<'_>,
    all: &[(VersionKey, Arc<VersionStats>)],
) -> Result<(), std::fmt::Error> {
    type Read = fn(&VersionStats) -> u64;
    let counters: [(&str, &str, Read); 7] = [
        ("labelled_predictions", "Answered rows a ground-truth label was joined to.", |s| s.outcomes().sums().labelled),
        ("correct_predictions", "Labelled rows a classifier got right.", |s| s.outcomes().sums().correct),
        ("invalid_predictions", "Rows whose output was invalid: NaN, out of the declared range, or an undeclared class.", |s| s.outcomes().invalid()),
        ("rewards", "Rewards (conversions) reported for answered requests.", |s| s.outcomes().sums().rewards),
        ("shadow_compared", "Rows a mirrored version answered and compared with the served answer.", |s| s.shadow().sums().compared),
        ("shadow_disagreements", "Compared rows on which the mirrored version's answer differed.", |s| s.shadow().sums().disagreements),
        ("shadow_requests", "Mirrored copies the mirrored version answered or failed, of those the served version answered.", |s| s.shadow().sums().requests),
    ];
    for (name, help, read) in counters {
        family(enc, name, help, None, MetricType::Counter, all, |m, s| {
            m.encode_counter::<NoLabelSet, _, u64>(&read(s), None)
        })?;
    }
    type ReadF64 = fn(&VersionStats) -> f64;
    let sums: [(&str, &str, ReadF64); 2] = [
        (
            "prediction_abs_error",
            "Summed absolute error of labelled regression rows.",
            |s| s.outcomes().sums().abs_error,
        ),
        (
            "prediction_squared_error",
            "Summed squared error of labelled regression rows.",
            |s| s.outcomes().sums().sq_error,
        ),
    ];
    for (name, help, read) in sums {
        family(enc, name, help, None, MetricType::Counter, all, |m, s| {
            m.encode_counter::<NoLabelSet, _, u64>(&read(s), None)
        })?;
    }
    let help = "Summed reward reported for answered requests (may fall: rewards can be negative).";
    family(
        enc,
        "reward_amount",
        help,
        None,
        MetricType::Gauge,
        all,
        |m, s| m.encode_gauge(&s.outcomes().sums().reward_sum),
    )
}

fn encode_errors(
    enc: &mut DescriptorEncoder<'_>,
    all: &[(VersionKey, Arc<VersionStats>)],
) -> Result<(), std::fmt::Error> {
    let help = "Failed requests, by version and kind (bad_request is the client's fault).";
    by_kind(enc, "request_errors", help, all, |s| {
        ErrorKind::ALL.map(|k| s.errors(k))
    })?;
    let help =
        "Mirrored copies the mirrored version failed to answer, by kind: never seen by users.";
    by_kind(enc, "shadow_errors", help, all, |s| {
        s.shadow().sums().errors
    })
}

/// A counter family with one series per version and error kind. `read` gives a version's
/// counts by kind in one reading (indexed by [`ErrorKind`]): the shadow's sit behind a lock.
fn by_kind(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    all: &[(VersionKey, Arc<VersionStats>)],
    read: impl Fn(&VersionStats) -> [u64; 5],
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (key, stats) in all {
        let counts = read(stats);
        for kind in ErrorKind::ALL {
            let mut l = labels(key);
            l.push(("kind", kind.label()));
            m.encode_family(&l)?
                .encode_counter::<NoLabelSet, _, u64>(&counts[kind.index()], None)?;
        }
    }
    Ok(())
}

fn encode_latency(
    enc: &mut DescriptorEncoder<'_>,
    all: &[(VersionKey, Arc<VersionStats>)],
) -> Result<(), std::fmt::Error> {
    let help = "Time from request to answer head, by version.";
    family(
        enc,
        "request_duration",
        help,
        Some(&Unit::Seconds),
        MetricType::Histogram,
        all,
        |m, s| {
            let h = s.latency().merged();
            let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
                .iter()
                .map(|&b| (b, h.count_between(0, (b * 1e6) as u64)))
                .chain(std::iter::once((f64::INFINITY, h.len())))
                .collect();
            let sum = h.mean() * h.len() as f64 / 1e6;
            m.encode_histogram::<NoLabelSet>(sum, h.len(), &per_bucket(&buckets), None)
        },
    )
}

fn encode_classes(
    enc: &mut DescriptorEncoder<'_>,
    all: &[(VersionKey, Arc<VersionStats>)],
    source: &dyn WeightSource,
) -> Result<(), std::fmt::Error> {
    let help = "Predicted classes, by version (the output distribution); `class` is the declared class name, or the label index when the service declares none.";
    let mut m = enc.encode_descriptor("predictions", help, None, MetricType::Counter)?;
    for (key, stats) in all {
        let (counts, other) = stats.class_counts();
        let declared = source.classes(&key.service);
        let names: Vec<String> = (0..counts.len())
            .map(|i| declared.get(i).cloned().unwrap_or_else(|| i.to_string()))
            .collect();
        let pairs = counts.iter().zip(names.iter().map(String::as_str));
        for (count, class) in pairs.chain((other > 0).then_some((&other, "other"))) {
            let mut l = labels(key);
            l.push(("class", class));
            m.encode_family(&l)?
                .encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }
    }
    Ok(())
}

fn encode_values(
    enc: &mut DescriptorEncoder<'_>,
    all: &[(VersionKey, Arc<VersionStats>)],
) -> Result<(), std::fmt::Error> {
    let help = "Regression output values, by version (the output distribution).";
    family(
        enc,
        "prediction_value",
        help,
        None,
        MetricType::Histogram,
        all,
        |m, s| {
            let (buckets, sum, count) = s.values.cumulative();
            m.encode_histogram::<NoLabelSet>(sum, count, &per_bucket(&buckets), None)
        },
    )
}

fn encode_weights(
    enc: &mut DescriptorEncoder<'_>,
    weights: Vec<(String, String, f64)>,
) -> Result<(), std::fmt::Error> {
    let help = "Share of traffic the route table gives each version (0 to 1).";
    let mut m = enc.encode_descriptor("route_weight_ratio", help, None, MetricType::Gauge)?;
    for (service, version, share) in &weights {
        let l: Labels<'_> = vec![("service", service), ("version", version)];
        m.encode_family(&l)?.encode_gauge(share)?;
    }
    Ok(())
}

fn encode_roles(
    enc: &mut DescriptorEncoder<'_>,
    roles: Vec<(String, String, &'static str)>,
) -> Result<(), std::fmt::Error> {
    let help =
        "1 for every version, labelled with its role in the route (stable, candidate, other).";
    let mut m = enc.encode_descriptor("version_info", help, None, MetricType::Gauge)?;
    for (service, version, role) in &roles {
        let l: Labels<'_> = vec![("service", service), ("version", version), ("role", role)];
        m.encode_family(&l)?.encode_gauge(&1i64)?;
    }
    Ok(())
}

/// prometheus-client accumulates bucket counts itself: it wants each bucket's own count, so the
/// cumulative counts the histograms give are turned back into per-bucket ones.
fn per_bucket(cumulative: &[(f64, u64)]) -> Vec<(f64, u64)> {
    let mut previous = 0;
    cumulative
        .iter()
        .map(|&(bound, c)| {
            let own = c.saturating_sub(previous);
            previous = c;
            (bound, own)
        })
        .collect()
}
