//! One phase of the demo: point the service at its candidate, start the plan through the
//! control API, send traffic while the controller decides, and show progress until the
//! rollout ends.

use super::config::Timing;
use super::drive::{self, Workload};
use super::http::DataClient;
use super::summary::PhaseRow;
use super::traffic::{Generator, Row};
use crate::cli::client::AdminClient;
use crate::cli::out::outln;
use anyhow::{bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every phase shares.
pub(crate) struct Ctx {
    pub(crate) admin: AdminClient,
    pub(crate) data: DataClient,
    pub(crate) rows: Arc<[Row]>,
    pub(crate) seed: u64,
    pub(crate) timing: Timing,
    pub(crate) multi: MultiProgress,
}

impl Ctx {
    /// Prints a line above the progress bars (printed even when they are hidden).
    pub(crate) fn say(&self, text: &str) {
        self.multi.suspend(|| outln!("{text}"));
    }
}

/// What one phase does.
pub(crate) struct Phase {
    pub(crate) title: String,
    /// Short name in the final table and the generator's tag.
    pub(crate) tag: &'static str,
    pub(crate) service: &'static str,
    /// Set as the route's candidate before the plan starts (the config's is used if `None`).
    pub(crate) candidate: Option<&'static str>,
    pub(crate) plan: String,
    pub(crate) workload: Workload,
}

/// How a phase ended.
pub(crate) struct Ended {
    pub(crate) row: PhaseRow,
    /// The final rollout view (`phase`, `verdicts`, `report` ...).
    pub(crate) rollout: Value,
}

/// Runs a phase to its decision.
pub(crate) async fn run(ctx: &Ctx, phase: Phase) -> anyhow::Result<Ended> {
    let base = format!("/api/v1/services/{}", phase.service);
    if let Some(candidate) = phase.candidate {
        set_candidate(&ctx.admin, &base, candidate).await?;
    }
    let begun = ctx
        .admin
        .post_bytes(&format!("{base}/rollout"), phase.plan.clone().into_bytes())
        .await
        .with_context(|| format!("starting the rollout of {}", phase.service))?;
    let started = Instant::now();
    let steps = begun["rollout"]["steps"].as_array().map_or(0, Vec::len);
    // Traffic starts once the first step's weights are applied, so an A/B test's variants
    // are not skewed by requests routed before the split.
    wait_started(ctx, &base).await?;
    let ab = phase.workload.conversion.is_some();
    let generator = Generator::new(Arc::clone(&ctx.rows), ctx.seed, phase.tag);
    let drive = drive::start(
        &ctx.data,
        generator,
        phase.workload,
        ctx.timing.requests_per_s(),
        ctx.timing.speed,
    );
    let (bar, line) = bars(ctx, phase.tag, steps);
    let deadline = Duration::from_secs(60).max(ctx.timing.scaled(150_000));
    let poll = ctx.timing.scaled(250).max(Duration::from_millis(50));
    let rollout = loop {
        tokio::time::sleep(poll).await;
        let r = ctx.admin.get(&format!("{base}/rollout")).await?["rollout"].clone();
        let (tally, rps) = drive.snapshot();
        bar.set_position(r["step"].as_u64().unwrap_or(0));
        bar.set_message(progress_words(&r));
        line.set_message(tally.line(rps, ab));
        if r["terminal"] == true {
            break r;
        }
        if started.elapsed() > deadline {
            let _ = ctx
                .admin
                .post_json(&format!("{base}/rollout/abort"), &json!({}))
                .await;
            drive.stop().await;
            bail!(
                "{}: no decision within {} s (phase `{}`); is the machine overloaded? try a lower --speed",
                phase.title,
                deadline.as_secs(),
                r["phase"].as_str().unwrap_or("?")
            );
        }
    };
    let time_to_decision = started.elapsed();
    let tally = drive.stop().await;
    let decision = rollout["phase"].as_str().unwrap_or("?").replace('_', " ");
    bar.finish_with_message(decision.clone());
    line.finish_and_clear();
    ctx.multi.remove(&bar);
    ctx.multi.remove(&line);
    Ok(Ended {
        row: PhaseRow {
            name: phase.tag.to_owned(),
            tally,
            decision,
            time_to_decision,
        },
        rollout,
    })
}

/// The phase's progress bar (steps of the plan) and its live summary line below it.
fn bars(ctx: &Ctx, tag: &str, steps: usize) -> (ProgressBar, ProgressBar) {
    let bar = ctx.multi.add(ProgressBar::new(steps as u64));
    let style =
        ProgressStyle::with_template("  {prefix:>6} [{bar:28.cyan/blue}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(tag.to_owned());
    let line = ctx.multi.add(ProgressBar::new_spinner());
    line.set_style(
        ProgressStyle::with_template("  {spinner} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    line.enable_steady_tick(Duration::from_millis(120));
    (bar, line)
}

/// `analysing · candidate 25% · accuracy 0.981 vs 0.862 pass · ...`: the phase, the traffic
/// split and the judge's latest look, check by check.
fn progress_words(r: &Value) -> String {
    let mut words = vec![
        r["phase"].as_str().unwrap_or("?").replace('_', " "),
        format!(
            "candidate {}%",
            r["candidate_percent"].as_str().unwrap_or("0")
        ),
    ];
    let mirror = r["mirror_percent"].as_str().unwrap_or("0");
    if mirror != "0" {
        words.push(format!("mirrored {mirror}%"));
    }
    let analysing = r["phase"] == "analysing";
    let checks = r["analysis"]["verdict"]["checks"].as_array();
    for c in checks.into_iter().flatten().filter(|_| analysing) {
        let value = |v: &Value| v.as_f64().map_or("-".into(), |x| format!("{x:.3}"));
        let vs = if c["baseline_value"].is_null() {
            String::new()
        } else {
            format!(" vs {}", value(&c["baseline_value"]))
        };
        words.push(format!(
            "{} {}{vs} ({} samples) {}",
            c["metric"].as_str().unwrap_or("?"),
            value(&c["candidate_value"]),
            c["samples"],
            c["outcome"].as_str().unwrap_or("?").to_lowercase(),
        ));
    }
    words.join(" · ")
}

/// Makes `candidate` the service's candidate, keeping the rest of its route.
async fn set_candidate(admin: &AdminClient, base: &str, candidate: &str) -> anyhow::Result<()> {
    let mut current = admin.get(&format!("{base}/route")).await?;
    let mut route = current["route"].take();
    route["candidate"] = json!(candidate);
    admin
        .put_json(&format!("{base}/route"), &json!({ "route": route }))
        .await
        .with_context(|| format!("making {candidate} the candidate"))?;
    Ok(())
}

/// Waits (briefly) until the controller has left `pending`.
async fn wait_started(ctx: &Ctx, base: &str) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let r = ctx.admin.get(&format!("{base}/rollout")).await?;
        if r["rollout"]["phase"] != "pending" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the rollout of {base} never left `pending`")
}
