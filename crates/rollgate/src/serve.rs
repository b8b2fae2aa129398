//! `rollgate serve`: load the configuration, build the first snapshot, listen, and shut down
//! gracefully (stop accepting, let in-flight requests finish within the grace period).

use crate::backend::builtin;
use crate::cli::ServeArgs;
use crate::gateway::{self, snapshot::Snapshot, Gateway};
use crate::telemetry::Recorder;
use anyhow::Context;
use rollgate_core::config::{self, Config};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Runs the gateway until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, base) = load_config(args.config.as_deref())?;
    if let Some(addr) = args.listen {
        config.data_addr = addr;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, base))
}

/// Reads and validates the config file, or the embedded default; returns it with the
/// directory model paths are relative to.
fn load_config(path: Option<&Path>) -> anyhow::Result<(Config, PathBuf)> {
    let Some(path) = path else {
        let config =
            config::parse(builtin::DEFAULT_CONFIG).context("the embedded default config")?;
        return Ok((config, PathBuf::from(".")));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("config file `{}`: cannot read it", path.display()))?;
    let config =
        config::parse(&text).with_context(|| format!("config file `{}`", path.display()))?;
    let base = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((config, base))
}

async fn serve(config: Config, base: PathBuf) -> anyhow::Result<()> {
    let recorder = Arc::new(Recorder::default());
    let snapshot = load_snapshot(&config, &base, &recorder).await?;
    for svc in snapshot.services.values() {
        tracing::info!(service = %svc.name, route = %svc.route, "service loaded");
    }
    let gw = Arc::new(Gateway::new(snapshot, recorder, config.max_body_bytes));
    let listener = tokio::net::TcpListener::bind(config.data_addr)
        .await
        .with_context(|| format!("listening on {}", config.data_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "data port listening");
    let app = gateway::routes(gw);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    shutdown_signal().await;
    tracing::info!(grace = ?config.shutdown_grace, "shutting down: no new connections, finishing in-flight requests");
    let _ = tx.send(());
    drain(server, config.shutdown_grace).await
}

/// Loading and optimising models is CPU work: done on the blocking pool.
async fn load_snapshot(
    config: &Config,
    base: &Path,
    recorder: &Arc<Recorder>,
) -> anyhow::Result<Snapshot> {
    let (config, base, recorder) = (config.clone(), base.to_path_buf(), Arc::clone(recorder));
    tokio::task::spawn_blocking(move || Snapshot::build(&config, &base, &recorder))
        .await
        .context("loading models")?
        .context("loading models")
}

async fn drain(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    grace: Duration,
) -> anyhow::Result<()> {
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => {
            joined.context("server task")?.context("serving")?;
            tracing::info!("stopped cleanly");
        }
        Err(_) => tracing::warn!(
            ?grace,
            "grace period over: stopping with requests still in flight"
        ),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
