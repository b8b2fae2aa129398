//! What `rollgate serve` is started with: the command line, parsed by clap. It lives with the
//! server, not the CLI, so the CLI depends on the server and never the other way round.

use std::path::PathBuf;
use std::time::Duration;

/// `500ms`, `10s`, `1m`: as everywhere in Rollgate, a unit is required.
fn duration(text: &str) -> Result<Duration, rollgate_core::rollout::NotADuration> {
    rollgate_core::rollout::parse_duration(text).map(Duration::from_millis)
}

impl ServeArgs {
    /// The replica's name: the one given, else `<host>-<pid>`.
    pub(crate) fn replica(&self) -> String {
        self.replica_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "rollgate".into());
            format!("{host}-{}", std::process::id())
        })
    }
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
    /// A shared PostgreSQL store (`postgres://user:password@host:port/database`) for several
    /// replicas; without it the embedded store in --data-dir is used. Prefer the environment
    /// variable, so the password stays out of process listings.
    #[arg(long, env = "ROLLGATE_STORE", hide_env_values = true)]
    pub(crate) store: Option<String>,
    /// This replica's name in the controller lease and the logs (default: the host name and
    /// process id). In Kubernetes, the pod name.
    #[arg(long, env = "ROLLGATE_REPLICA_ID")]
    pub(crate) replica_id: Option<String>,
    /// How long the elected rollout controller's lease lasts without renewal: after a leader
    /// dies, another replica takes over within this time. Shared store only.
    #[arg(long, env = "ROLLGATE_LEASE", default_value = "10s", value_parser = duration)]
    pub(crate) lease: Duration,
    /// On SIGTERM, how long to keep serving while reporting not-ready, so load balancers
    /// stop sending before the ports close (then in-flight requests finish).
    #[arg(long, env = "ROLLGATE_DRAIN", default_value = "0s", value_parser = duration)]
    pub(crate) drain: Duration,
    /// Threads serving the data port, each with its own listener and upstream connections
    /// (default: one per CPU).
    #[arg(long, env = "ROLLGATE_WORKERS")]
    pub(crate) workers: Option<usize>,
}
