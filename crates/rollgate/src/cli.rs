//! The command line: `rollgate serve` and friends.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Rollgate routes prediction traffic between model versions, measures each side by side and
/// promotes or rolls back new versions safely.
#[derive(Debug, Parser)]
#[command(name = "rollgate", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ROLLGATE_LOG_FORMAT")]
    log_format: LogFormat,
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve predictions.
    ///
    /// Without --config, serves the bundled iris models: `v1` stable at 100%, `v2` and `bad`
    /// registered at 0%.
    ///
    /// Examples:
    ///   rollgate serve
    ///   rollgate serve --config examples/iris.yaml
    ///   rollgate serve --listen 0.0.0.0:8080
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
}

/// Arguments of `rollgate serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// YAML configuration file (services, versions, routes).
    #[arg(long, short, env = "ROLLGATE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Data port address, overriding the config's `listen.data`.
    #[arg(long, env = "ROLLGATE_LISTEN")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// Admin port address (control API), overriding the config's `listen.admin`.
    #[arg(long, env = "ROLLGATE_ADMIN_LISTEN")]
    pub(crate) admin_listen: Option<std::net::SocketAddr>,
    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "ROLLGATE_DATA_DIR", default_value = "rollgate-data")]
    pub(crate) data_dir: PathBuf,
}

/// Runs the parsed command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing(cli.log_format);
    match cli.command {
        Command::Serve(args) => crate::serve::run(args),
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
