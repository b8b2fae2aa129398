//! `rollgate rollout ...` and `rollgate plan show`: start and steer automated rollouts, in the
//! style of `kubectl argo rollouts`.

use super::client::{AdminClient, CallError};
use super::out::{out, outln};
use super::Output;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

/// `rollgate rollout ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum RolloutCmd {
    /// Start a rollout of the service's candidate from a plan file.
    ///
    /// Example: rollgate rollout start iris --plan examples/plans/canary.yaml
    #[command(verbatim_doc_comment)]
    Start {
        service: String,
        #[arg(long)]
        plan: PathBuf,
    },
    /// Phase, step, weights and verdicts of the service's rollout.
    Status { service: String },
    /// Stop the rollout where it is (its step clock stops too).
    Pause { service: String },
    /// Go on after a pause.
    Resume { service: String },
    /// Pass a manual gate (or accept an inconclusive analysis).
    Approve { service: String },
    /// Roll back now.
    Abort { service: String },
    /// Skip the remaining steps and make the candidate stable.
    Promote {
        service: String,
        /// Required: promotion skips every remaining analysis.
        #[arg(long)]
        full: bool,
    },
}

/// `rollgate plan ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PlanCmd {
    /// Print the steps a plan file expands to (strategy shorthands included).
    ///
    /// Example: rollgate plan show examples/plans/shadow-then-canary.yaml
    #[command(verbatim_doc_comment)]
    Show { file: PathBuf },
}

/// Prints a plan's expansion; no gateway needed.
pub(crate) fn show(cmd: &PlanCmd) -> anyhow::Result<()> {
    let PlanCmd::Show { file } = cmd;
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("plan `{}`: {e}", file.display()))?;
    let plan = rollgate_core::rollout::parse_plan(&text)
        .map_err(|e| anyhow::anyhow!("plan `{}`: {e}", file.display()))?;
    out!("{plan}");
    Ok(())
}

/// Runs a rollout verb against the control API.
pub(crate) async fn run(c: &AdminClient, cmd: RolloutCmd, out: Output) -> Result<(), CallError> {
    let base = |s: &str| format!("/api/v1/services/{s}/rollout");
    let doc = match cmd {
        RolloutCmd::Start { service, plan } => {
            let bytes = std::fs::read(&plan)
                .map_err(|e| CallError::Usage(format!("plan `{}`: {e}", plan.display())))?;
            c.post_bytes(&base(&service), bytes).await?
        }
        RolloutCmd::Status { service } => c.get(&base(&service)).await?,
        RolloutCmd::Promote { full: false, .. } => {
            return Err(CallError::Usage(
                "promote skips every remaining step and analysis: confirm with --full".into(),
            ))
        }
        RolloutCmd::Pause { service } => verb(c, &base(&service), "pause").await?,
        RolloutCmd::Resume { service } => verb(c, &base(&service), "resume").await?,
        RolloutCmd::Approve { service } => verb(c, &base(&service), "approve").await?,
        RolloutCmd::Abort { service } => verb(c, &base(&service), "abort").await?,
        RolloutCmd::Promote { service, .. } => verb(c, &base(&service), "promote").await?,
    };
    match out {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
        Output::Table => print_rollout(&doc["rollout"]),
    }
    Ok(())
}

async fn verb(c: &AdminClient, base: &str, verb: &str) -> Result<Value, CallError> {
    c.post_json(&format!("{base}/{verb}"), &Value::Null).await
}

fn print_rollout(r: &Value) {
    if r.is_null() {
        outln!("no rollout");
        return;
    }
    let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    outln!(
        "rollout {}  {} → {}  strategy {}  phase {}",
        s(&r["id"]),
        s(&r["stable"]),
        s(&r["candidate"]),
        s(&r["strategy"]),
        s(&r["phase"]),
    );
    outln!(
        "candidate {}%  mirror {}%  step elapsed {:.0} s",
        s(&r["candidate_percent"]),
        s(&r["mirror_percent"]),
        r["step_elapsed_ms"].as_f64().unwrap_or(0.0) / 1e3
    );
    let rolling = &r["rolling"];
    if !rolling.is_null() {
        outln!(
            "rolling batch {}/{}  {} of {} instances replaced  {} new ready in the batch",
            rolling["batch"],
            rolling["batches"],
            rolling["replaced"],
            rolling["instances"],
            rolling["ready_in_batch"]
        );
    }
    let current = r["step"].as_u64().unwrap_or(0);
    for (i, step) in r["steps"].as_array().into_iter().flatten().enumerate() {
        let mark = if i as u64 == current { "▶" } else { " " };
        outln!(" {mark} {i:>2}. {}", s(step));
    }
    for v in r["verdicts"].as_array().into_iter().flatten().rev().take(5) {
        outln!(
            "   verdict step {}: {} — {}",
            v["step"],
            s(&v["outcome"]),
            s(&v["summary"])
        );
    }
    if let Some(text) = r["report"]["text"].as_str() {
        outln!("\n{text}");
    }
}
