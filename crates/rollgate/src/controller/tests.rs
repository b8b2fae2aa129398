//! The controller over a real store that can be made to refuse service writes, as a full disk
//! or a failing database would, between a rollout's stored transition and its route change.

use super::*;
use crate::metrics_source::local::LocalSource;
use crate::store::faulty::{Faulty as Flaky, Knobs};
use crate::store::sqlite::SqliteStore;
use async_trait::async_trait;
use std::sync::atomic::Ordering::SeqCst;

/// A controller (ticking once an hour: the test ticks it) over a `Flaky` store in `dir`,
/// serving the embedded default config (iris: `v1` stable, `v2` the candidate).
async fn controller(dir: &std::path::Path, knobs: &Arc<Knobs>) -> Arc<Controller> {
    let source = |booted: &crate::control::plane::Booted| -> Arc<dyn MetricSource> {
        Arc::new(LocalSource::new(Arc::clone(&booted.recorder)))
    };
    controller_over(dir, knobs, crate::backend::builtin::DEFAULT_CONFIG, source).await
}

/// A controller serving `config` over a `Flaky` store in `dir`, its windows from `source`.
async fn controller_over(
    dir: &std::path::Path,
    knobs: &Arc<Knobs>,
    config: &str,
    source: impl FnOnce(&crate::control::plane::Booted) -> Arc<dyn MetricSource>,
) -> Arc<Controller> {
    let inner = SqliteStore::open(dir).await.expect("store");
    let store = Arc::new(Flaky {
        inner,
        knobs: Arc::clone(knobs),
    });
    let booted = crate::control::plane::boot_for_test(store, config).await;
    let source = source(&booted);
    let settings = Settings {
        tick: Duration::from_secs(3600),
        templates: builtin_templates().expect("templates"),
        webhooks: webhook::WebhookConfig {
            urls: Vec::new(),
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        },
    };
    Controller::start(booted.plane, source, settings)
        .await
        .expect("controller")
}

/// The candidate's live weight, in basis points.
async fn candidate_bps(c: &Controller) -> u32 {
    let route = c.plane.service("iris").await.expect("service").spec.route;
    let v2 = route.index_of("v2").expect("v2");
    route.weights()[usize::from(v2.0)]
}

#[tokio::test]
async fn a_route_change_refused_after_its_transition_was_stored_is_repaired_by_a_tick() {
    let dir = tempfile::tempdir().expect("dir");
    let knobs = Arc::new(Knobs::default());
    let c = controller(dir.path(), &knobs).await;
    let refuse = &knobs.refuse;
    refuse.store(true, SeqCst);
    c.begin("iris", "steps:\n  - set_weight: 10%\n  - pause: {}\n")
        .await
        .expect("begun");
    // The transition to 10% is stored; the route change behind it was refused.
    assert_eq!(candidate_bps(&c).await, 0);
    c.tick_now("iris").await;
    assert_eq!(candidate_bps(&c).await, 0, "still refused");
    refuse.store(false, SeqCst);
    c.tick_now("iris").await;
    assert_eq!(candidate_bps(&c).await, 1_000, "repaired");

    // A rollback whose route change is refused leaves the candidate its share until repaired.
    refuse.store(true, SeqCst);
    c.act("iris", Verb::Abort).await.expect("aborted");
    assert_eq!(candidate_bps(&c).await, 1_000);
    refuse.store(false, SeqCst);
    c.tick_now("iris").await;
    assert_eq!(candidate_bps(&c).await, 0, "back on stable");
}

/// Windows from the gateway's own counters, except for `hung`, whose queries never answer
/// (a Prometheus server that stopped responding).
#[derive(Debug)]
struct Hanging {
    local: LocalSource,
    hung: &'static str,
}

#[async_trait]
impl MetricSource for Hanging {
    fn mark(&self, service: &str, version: &str) -> crate::metrics_source::Mark {
        self.local.mark(service, version)
    }
    async fn window(
        &self,
        service: &str,
        version: &str,
        since: &crate::metrics_source::Mark,
    ) -> rollgate_core::analysis::VersionWindow {
        if service == self.hung {
            std::future::pending::<()>().await;
        }
        self.local.window(service, version, since).await
    }
}

const TWO_SERVICES: &str = r#"
services:
  a:
    input_width: 4
    versions: { v1: { onnx: "builtin:iris-v1" }, v2: { onnx: "builtin:iris-v2" } }
    route: { stable: v1, candidate: v2, weights: { v1: 100 } }
  b:
    input_width: 4
    versions: { v1: { onnx: "builtin:iris-v1" }, v2: { onnx: "builtin:iris-v2" } }
    route: { stable: v1, candidate: v2, weights: { v1: 100 } }
"#;

#[tokio::test]
async fn an_abort_completes_while_another_rollouts_analysis_query_hangs() {
    let dir = tempfile::tempdir().expect("dir");
    let knobs = Arc::new(Knobs::default());
    let c = controller_over(dir.path(), &knobs, TWO_SERVICES, |booted| {
        Arc::new(Hanging {
            local: LocalSource::new(Arc::clone(&booted.recorder)),
            hung: "b",
        })
    })
    .await;
    let plan = "steps:\n  - set_weight: 10%\n  - analysis: {template: default, window: 1h}\n";
    c.begin("a", plan).await.expect("a begun");
    c.begin("b", plan).await.expect("b begun");
    // b's task is now stuck in its analysis query, for good.
    let b = Arc::clone(&c);
    let stuck = tokio::spawn(async move { b.tick_now("b").await });
    tokio::task::yield_now().await;
    let within = Duration::from_secs(10);
    let aborted = tokio::time::timeout(within, c.act("a", Verb::Abort))
        .await
        .expect("a's abort does not wait for b's query")
        .expect("aborted");
    assert_eq!(aborted["phase"], "aborted");
    let view = tokio::time::timeout(within, c.view("b"))
        .await
        .expect("b's view does not wait for its task");
    assert_eq!(view.expect("b has a rollout")["phase"], "analysing");
    assert!(
        !stuck.is_finished(),
        "b's tick is still waiting for its query"
    );
    stuck.abort();
}

/// A controller whose `iris` rollout set 10% and waits at an indefinite pause.
async fn held_at_a_pause() -> (tempfile::TempDir, Arc<Knobs>, Arc<Controller>) {
    let dir = tempfile::tempdir().expect("dir");
    let knobs = Arc::new(Knobs::default());
    let c = controller(dir.path(), &knobs).await;
    c.begin("iris", "steps:\n  - set_weight: 10%\n  - pause: {}\n")
        .await
        .expect("begun");
    (dir, knobs, c)
}

#[tokio::test]
async fn a_verb_that_does_not_apply_is_refused_with_its_reason() {
    let (_dir, _knobs, c) = held_at_a_pause().await;
    c.act("iris", Verb::Pause).await.expect("paused");
    let e = c
        .act("iris", Verb::Pause)
        .await
        .expect_err("paused already");
    assert_eq!(
        e.to_string(),
        "the rollout cannot pause now: the rollout is paused at step 2/3 (pause)"
    );
}

#[tokio::test]
async fn an_idle_rollout_is_not_stored_at_every_tick() {
    let (_dir, knobs, c) = held_at_a_pause().await;
    let saves = knobs.saves.load(SeqCst);
    for _ in 0..5 {
        c.tick_now("iris").await;
    }
    assert_eq!(
        knobs.saves.load(SeqCst),
        saves,
        "ticks that change nothing store nothing"
    );
    let stored = c.plane.stored_rollouts().await.expect("rollouts");
    let doc: StoredRollout = serde_json::from_value(stored[0].1.clone()).expect("stored");
    assert_eq!(doc.state.index, 1, "the pause step is stored");
}
