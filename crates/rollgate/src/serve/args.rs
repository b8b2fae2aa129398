//! What `rollgate serve` is started with: the command line, parsed by clap. It lives with the
//! server, not the CLI, so the CLI depends on the server and never the other way round.

use std::path::PathBuf;

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
    /// Threads serving the data port, each with its own listener and upstream connections
    /// (default: one per CPU).
    #[arg(long, env = "ROLLGATE_WORKERS")]
    pub(crate) workers: Option<usize>,
}
