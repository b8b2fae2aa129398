//! The command line: `rollgate serve`, and the operator verbs that talk to a running gateway's
//! control API in the style of `kubectl argo rollouts`.
//!
//! Exit codes: 0 success; 1 the server refused the request (bad input, conflict, not found);
//! 2 usage error or a failure to start; 3 the server could not be reached or failed.

mod admin;
mod client;
mod demo;
mod out;
mod rollout;

use crate::serve::ServeArgs;
use clap::{CommandFactory, Parser, Subcommand};
use client::{AdminClient, CallError};
use out::out;
use std::path::PathBuf;

/// Rollgate routes prediction traffic between model versions, measures each side by side and
/// promotes or rolls back new versions safely.
#[derive(Debug, Parser)]
#[command(name = "rollgate", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ROLLGATE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Control API of the gateway the verbs talk to.
    #[arg(
        long,
        global = true,
        env = "ROLLGATE_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    admin_url: String,
    /// Bearer token of the control API.
    #[arg(
        long,
        global = true,
        env = "ROLLGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Output of the verbs: human-readable tables or JSON for scripts.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How verbs print their result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve predictions (data port) and the control API (admin port).
    ///
    /// Without --config, serves the bundled iris models: `v1` stable at 100%, `v2` and `bad`
    /// registered at 0%. State lives in --data-dir and survives restarts.
    ///
    /// Examples:
    ///   rollgate serve
    ///   rollgate serve --config examples/rollgate.yaml --data-dir /var/lib/rollgate
    ///   ROLLGATE_ADMIN_TOKEN=s3cret rollgate serve --admin-listen 0.0.0.0:8081
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Watch Rollgate work: a gateway on the bundled models, synthetic traffic with late
    /// labels, and three automated rollouts (a canary promoted, a bad one rolled back, an A/B
    /// test), with a summary at the end.
    ///
    /// Examples:
    ///   rollgate demo
    ///   rollgate demo --seed 7 --speed 2
    ///   rollgate demo --keep-running
    #[command(verbatim_doc_comment)]
    Demo(demo::DemoArgs),
    /// Versions, weights and live numbers of one service or all.
    ///
    /// Examples:
    ///   rollgate status
    ///   rollgate status iris -o json
    #[command(verbatim_doc_comment)]
    Status { service: Option<String> },
    /// List, register or remove versions.
    #[command(subcommand)]
    Versions(VersionsCmd),
    /// Send a share of traffic to the next version (seed verb `/set-canary-ratio`).
    ///
    /// Example: rollgate set-ratio 0.1 --service iris
    #[command(verbatim_doc_comment)]
    SetRatio {
        /// Share for the next version, 0 to 1 (0.1 = 10%).
        ratio: f64,
        /// Service (default: the gateway's default service).
        #[arg(long, short)]
        service: Option<String>,
    },
    /// Upload a model file as the next version at 0% (seed verb `/update-model`).
    ///
    /// Example: rollgate update-model models/iris-v2.onnx --service iris --version v3
    #[command(verbatim_doc_comment)]
    UpdateModel {
        file: PathBuf,
        #[arg(long, short)]
        service: Option<String>,
        /// Version name (default: the next free `vN`).
        #[arg(long)]
        version: Option<String>,
    },
    /// Make the next version stable at 100%, keeping the old one for rollback
    /// (seed verb `/accept-next-model`).
    Promote {
        #[arg(long, short)]
        service: Option<String>,
    },
    /// All traffic back to the previous stable version at once (seed verb `/rollback`).
    Rollback {
        #[arg(long, short)]
        service: Option<String>,
    },
    /// The event log, newest first.
    Events {
        #[arg(long, short)]
        service: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Start and steer automated rollouts (canary, blue/green, shadow, A/B).
    #[command(subcommand)]
    Rollout(rollout::RolloutCmd),
    /// Work with rollout plan files.
    #[command(subcommand)]
    Plan(rollout::PlanCmd),
    /// Replay synthetic canaries through the real judge and compare it with a fixed-threshold
    /// policy checked every interval (as Flagger does): requests to a decision, false failures.
    ///
    /// Example: rollgate simulate --runs 1000 --seed 1
    #[command(verbatim_doc_comment)]
    Simulate {
        /// Seeded runs per scenario.
        #[arg(long, default_value_t = 1000)]
        runs: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// Example: rollgate completions bash > /etc/bash_completion.d/rollgate
    #[command(verbatim_doc_comment)]
    Completions { shell: clap_complete::Shell },
}

/// `rollgate versions ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum VersionsCmd {
    /// Versions of a service with their weights and numbers.
    List { service: String },
    /// Register a version at 0%: an ONNX file or HTTP upstream instances.
    ///
    /// Examples:
    ///   rollgate versions add iris v3 --file model.onnx
    ///   rollgate versions add iris remote --upstream http://10.0.0.5:9000 --upstream http://10.0.0.6:9000
    #[command(verbatim_doc_comment)]
    Add {
        service: String,
        name: String,
        #[arg(
            long,
            conflicts_with = "upstream",
            required_unless_present = "upstream"
        )]
        file: Option<PathBuf>,
        #[arg(long)]
        upstream: Vec<String>,
    },
    /// Remove a version that nothing routes to.
    Rm { service: String, name: String },
}

/// Runs the parsed command and returns the process exit code.
pub(crate) fn run(cli: Cli) -> anyhow::Result<u8> {
    let verb = match cli.command {
        Command::Serve(args) => {
            init_tracing(cli.log_format);
            return crate::serve::run(args).map(|()| 0);
        }
        Command::Demo(args) => return demo::run(args, cli.token),
        Command::Plan(cmd) => {
            return rollout::show(&cmd).map(|()| 0);
        }
        Command::Simulate { runs, seed } => {
            use rollgate_core::analysis::simulate::{simulate, SimulationConfig};
            let report = simulate(&SimulationConfig::standard(seed, runs.max(1)));
            out!("{}", report.render_table());
            return Ok(0);
        }
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a write error such as a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "rollgate", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            return Ok(0);
        }
        other => other,
    };
    let client = AdminClient::new(&cli.admin_url, cli.token);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(call(&client, verb, cli.output)) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

async fn call(c: &AdminClient, command: Command, out: Output) -> Result<(), CallError> {
    match command {
        Command::Status { service } => admin::status(c, service.as_deref(), out).await,
        Command::Versions(cmd) => admin::versions(c, cmd, out).await,
        Command::SetRatio { ratio, service } => {
            admin::set_ratio(c, service.as_deref(), ratio, out).await
        }
        Command::UpdateModel {
            file,
            service,
            version,
        } => admin::update_model(c, service.as_deref(), &file, version.as_deref(), out).await,
        Command::Promote { service } => {
            admin::verb(c, service.as_deref(), "accept-next-model", out, "promoted").await
        }
        Command::Rollback { service } => {
            admin::verb(c, service.as_deref(), "rollback", out, "rolled back").await
        }
        Command::Events { service, limit } => {
            admin::events(c, service.as_deref(), limit, out).await
        }
        Command::Rollout(cmd) => rollout::run(c, cmd, out).await,
        Command::Serve(_)
        | Command::Demo(_)
        | Command::Completions { .. }
        | Command::Plan(_)
        | Command::Simulate { .. } => Ok(()),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
