//! `rollgate demo`: the README's first command. Starts a gateway in this process on the
//! bundled iris models (loopback ports the OS picks, a store in a temporary directory), sends
//! it seeded synthetic traffic with late labels, and runs three rollouts through the control
//! API, as an operator would: a shadow then staged canary of the better model (promoted), a
//! canary of a bad model (rolled back, with its incident report) and an A/B test on rewards.
//!
//! The gateway's logs are not shown (they would tear the progress bars); everything the demo
//! reports comes from the control API, as any client would see it.

mod config;
mod drive;
mod http;
mod phases;
mod summary;
mod traffic;

use anyhow::Context;
use config::{Timing, CONVERSION};
use drive::Workload;
use indicatif::{MultiProgress, ProgressDrawTarget};
use phases::{Ctx, Ended, Phase};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

/// Arguments of `rollgate demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Seed of the synthetic traffic: the same seed sends the same requests and reaches the
    /// same decisions.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Time factor: 2 runs twice as fast (holds, label delays and ticks halve, the request
    /// rate doubles), 0.5 half as fast. Sample sizes do not change.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,
    /// Keep the gateway and its dashboard up after the demo, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

/// Why `--speed` was refused.
#[derive(Debug, thiserror::Error)]
enum SpeedError {
    #[error("{0} is outside 0.1 to 20")]
    OutOfRange(f64),
    #[error(transparent)]
    NotANumber(#[from] std::num::ParseFloatError),
}

fn parse_speed(text: &str) -> Result<f64, SpeedError> {
    match text.parse::<f64>()? {
        s if (0.1..=20.0).contains(&s) => Ok(s),
        s => Err(SpeedError::OutOfRange(s)),
    }
}

/// Runs the demo; exit code 0 when every phase reached the decision it is meant to show.
pub(crate) fn run(args: DemoArgs, token: Option<String>) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(demo(args, token))
}

async fn demo(args: DemoArgs, token: Option<String>) -> anyhow::Result<u8> {
    let timing = Timing { speed: args.speed };
    let mut config = rollgate_core::config::parse(&timing.config()).context("the demo's config")?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    config.data_addr = loopback;
    config.admin_addr = loopback;
    let dir = tempfile::Builder::new()
        .prefix("rollgate-demo-")
        .tempdir()
        .context("creating the demo's data directory")?;
    let running = crate::serve::start(
        config,
        Path::new("."),
        &crate::store::Location::Embedded(dir.path().to_owned()),
        &crate::serve::Replica::alone("demo"),
        crate::serve::data_workers(None),
    )
    .await
    .context("starting the gateway")?;
    let rows = traffic::rows()?;
    let ctx = Ctx {
        admin: crate::cli::client::AdminClient::new(
            &format!("http://{}", running.admin_addr),
            token,
        ),
        data: http::DataClient::new(running.data_addr),
        rows,
        seed: args.seed,
        timing,
        multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
    };
    header(&ctx, running.admin_addr, running.data_addr, dir.path());
    let story = story(&ctx).await;
    if args.keep_running && story.is_ok() {
        ctx.say(&format!(
            "\nThe gateway is still up: dashboard http://{}/ · Ctrl-C to stop.",
            running.admin_addr
        ));
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    running.shutdown().await?;
    story
}

fn header(ctx: &Ctx, admin: SocketAddr, data: SocketAddr, dir: &Path) {
    let prints: Vec<String> = TAGS
        .iter()
        .map(|t| {
            format!(
                "{t} {:08x}",
                traffic::fingerprint(&ctx.rows, ctx.seed, t, 2000) as u32
            )
        })
        .collect();
    ctx.say(&format!(
        "Rollgate demo · seed {} · speed {}×\n\
         \x20 dashboard  http://{admin}/   (open it: versions, weights and rollouts, live)\n\
         \x20 data port  http://{data}/v1/models/iris/predict\n\
         \x20 store      {} (temporary)\n\
         \x20 traffic    {:.0} req/s over the 150 iris rows ± {} cm, 30% signed-in users sticky by x-user-id,\n\
         \x20            labels sent {:.1}–{:.1} s after each answer\n\
         \x20 sequence   {}",
        ctx.seed,
        ctx.timing.speed,
        dir.display(),
        ctx.timing.requests_per_s(),
        traffic::NOISE_CM,
        ctx.timing.scaled(*traffic::DELAY_MS.start()).as_secs_f64(),
        ctx.timing.scaled(*traffic::DELAY_MS.end()).as_secs_f64(),
        prints.join(" · "),
    ));
}

/// Generator tags (and table names) of the three phases.
const TAGS: [&str; 3] = ["canary-v2", "canary-bad", "ab"];

/// The three phases in order; returns the exit code.
async fn story(ctx: &Ctx) -> anyhow::Result<u8> {
    let t = ctx.timing;
    let mut rows = Vec::new();
    let mut decisions = Vec::new();

    ctx.say("\n━━ 1/3 · shadow, then a staged canary of v2 (the better model) ━━");
    let one = phases::run(
        ctx,
        phase(
            TAGS[0],
            "iris",
            None,
            t.shadow_then_canary(),
            "shadow + canary of v2",
        ),
    )
    .await?;
    let ok1 = one.rollout["phase"] == "promoted";
    ctx.say(&outcome(&one, ok1, "v2 now serves all traffic"));
    last_verdicts(ctx, &one.rollout);
    decisions.push(format!("v2 {}", one.row.decision));
    rows.push(one.row);

    ctx.say("\n━━ 2/3 · canary of `bad` (a deliberately bad model) ━━");
    let two = phases::run(
        ctx,
        phase(TAGS[1], "iris", Some("bad"), t.canary(), "canary of bad"),
    )
    .await?;
    let report = two.rollout["report"]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let ok2 = two.rollout["phase"] == "rolled_back" && !report.is_empty();
    ctx.say(&outcome(&two, ok2, "all traffic back on v2"));
    ctx.say("  incident report:");
    for line in report.lines() {
        ctx.say(&format!("  │ {line}"));
    }
    decisions.push(format!("bad {}", two.row.decision));
    rows.push(two.row);

    ctx.say("\n━━ 3/3 · A/B test v1 vs v2 on conversions (rewards 0/1) ━━");
    let mut ab = phase(TAGS[2], "iris-ab", None, t.ab_test(), "A/B test");
    ab.workload.conversion = Some(
        CONVERSION
            .iter()
            .map(|(v, r)| ((*v).to_owned(), *r))
            .collect(),
    );
    let three = phases::run(ctx, ab).await?;
    let winner = ctx.admin.get("/api/v1/services/iris-ab").await?["stable"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    let ok3 = three.rollout["phase"] == "promoted" && winner == "v2";
    ctx.say(&outcome(&three, ok3, &format!("winner {winner}")));
    ctx.say(&format!("  result: {}", ab_summary(ctx).await));
    let seen: Vec<String> = three
        .row
        .tally
        .versions
        .iter()
        .filter_map(|(v, t)| {
            t.conversion_rate()
                .map(|c| format!("{v} {:.1}%", c * 100.0))
        })
        .collect();
    ctx.say(&format!(
        "  planted conversion rates v1 10%, v2 18%; the users saw {}",
        seen.join(", ")
    ));
    decisions.push(format!("ab {} {winner}", three.row.decision));
    rows.push(three.row);

    ctx.say(&format!(
        "\nSummary (as the demo's users saw it)\n{}",
        summary::table(&rows)
    ));
    ctx.say(&format!("decisions: {}", decisions.join(" · ")));
    if ok1 && ok2 && ok3 {
        Ok(0)
    } else {
        ctx.say("error: a phase did not reach the decision it is meant to show (see above)");
        Ok(1)
    }
}

fn phase(
    tag: &'static str,
    service: &'static str,
    candidate: Option<&'static str>,
    plan: String,
    title: &str,
) -> Phase {
    Phase {
        title: title.to_owned(),
        tag,
        service,
        candidate,
        plan,
        workload: Workload {
            service: service.to_owned(),
            conversion: None,
        },
    }
}

fn outcome(ended: &Ended, expected: bool, what: &str) -> String {
    let mark = if expected { "✔" } else { "✘ unexpected:" };
    let detail = ended.rollout["phase_detail"].as_str().unwrap_or("");
    let why = if detail.is_empty() || detail == ended.row.decision {
        String::new()
    } else {
        format!(" ({detail})")
    };
    format!(
        "  {mark} {} after {:.1} s{why} · {what}",
        ended.row.decision,
        ended.row.time_to_decision.as_secs_f64(),
    )
}

/// The last verdict of each analysed step, in words.
fn last_verdicts(ctx: &Ctx, rollout: &Value) {
    let verdicts = rollout["verdicts"].as_array().cloned().unwrap_or_default();
    let mut last: std::collections::BTreeMap<u64, String> = Default::default();
    for v in &verdicts {
        let step = v["step"].as_u64().unwrap_or(0);
        last.insert(step, v["summary"].as_str().unwrap_or("").to_owned());
    }
    for (step, summary) in last {
        ctx.say(&format!("  step {step}: {summary}"));
    }
}

/// The controller's own conclusion of the A/B test, from the event log.
async fn ab_summary(ctx: &Ctx) -> String {
    let events = ctx
        .admin
        .get("/api/v1/events?service=iris-ab&limit=100")
        .await
        .unwrap_or_default();
    events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["detail"]["note"].as_str())
        .find_map(|n| {
            // `step 1/1 (ab_test): concluded, winner Some("v2"): winner v2: v1: ...`
            let rest = &n[n.find("concluded, winner")?..];
            Some(rest.split_once(": ").map_or(rest, |(_, r)| r).to_owned())
        })
        .unwrap_or_else(|| "(no conclusion recorded)".into())
}
