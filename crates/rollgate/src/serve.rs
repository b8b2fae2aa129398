//! `rollgate serve`: open the store, reconcile it with the config, build the first snapshot,
//! listen on the data and admin ports, and shut down gracefully (stop accepting, let in-flight
//! requests finish within the grace period).

use crate::backend::builtin;
use crate::control::api::{self, Admin};
use crate::control::auth::{self, Token};
use crate::control::follow;
use crate::control::plane::{Boot, Booted, ControlPlane};
use crate::controller::lease::{self, Slot};
use crate::controller::webhook::WebhookConfig;
use crate::controller::{Controller, Settings};
use crate::gateway;
use crate::metrics_source::fleet::{self, FleetSource};
use crate::metrics_source::local::LocalSource;
use crate::metrics_source::prometheus::{PrometheusSource, QUERY_TIMEOUT};
use crate::metrics_source::MetricSource;
use crate::store::{Location, Opened};
use anyhow::Context;
use axum::Router;
use rollgate_core::config::metrics::MetricsSpec;
use rollgate_core::config::{self, Config};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod args;
mod conn;
mod workers;

pub(crate) use args::ServeArgs;

/// Runs the gateway until SIGINT or SIGTERM.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, base) = load_config(args.config.as_deref())?;
    config.data_addr = args.listen.unwrap_or(config.data_addr);
    config.admin_addr = args.admin_listen.unwrap_or(config.admin_addr);
    let location = Location::choose(args.store.as_deref(), args.data_dir.clone())?;
    let replica = Replica {
        id: args.replica(),
        lease: args.lease,
        drain: args.drain,
    };
    let data_workers = data_workers(args.workers);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let source = args.config.as_deref().map_or_else(
        || "the embedded default config".to_owned(),
        |p| format!("config file `{}`", p.display()),
    );
    runtime
        .block_on(serve(config, base, location, replica, data_workers))
        .with_context(|| source)
}

/// How many thread-per-core workers serve the data port (`requested`, else one per core),
/// registered for the per-worker upstream pools.
pub(crate) fn data_workers(requested: Option<usize>) -> usize {
    let n = workers::count(requested);
    crate::worker::set_count(n);
    n
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

async fn serve(
    config: Config,
    base: PathBuf,
    location: Location,
    replica: Replica,
    data_workers: usize,
) -> anyhow::Result<()> {
    let stop_signal = shutdown_signal()?;
    let running = start(config, &base, &location, &replica, data_workers).await?;
    stop_signal.await;
    running.shutdown().await
}

/// Who this process is among the replicas sharing a store.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    /// Its name in the controller lease and the logs.
    pub(crate) id: String,
    /// How long the controller lease lasts without renewal.
    pub(crate) lease: Duration,
    /// How long it keeps serving, not ready, after SIGTERM.
    pub(crate) drain: Duration,
}

impl Replica {
    /// A process alone on its store (the demo): no drain.
    pub(crate) fn alone(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            lease: Duration::from_secs(10),
            drain: Duration::ZERO,
        }
    }
}

fn humane(d: Duration) -> String {
    rollgate_core::rollout::fmt_duration(d.as_millis() as u64)
}

/// A gateway started in this process (by `serve`, or by `rollgate demo`, which needs the
/// OS-chosen ports back): its bound addresses and the means to stop it.
pub(crate) struct Running {
    pub(crate) data_addr: SocketAddr,
    pub(crate) admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    grace: Duration,
    /// How long to keep serving, not ready, before the ports close.
    drain: Duration,
    gateway: Arc<gateway::Gateway>,
    /// On a shared store, the election this replica takes part in.
    leader: Option<Election>,
    /// On a shared store, following it and publishing this replica's counters.
    _background: Vec<AbortOnDrop>,
}

/// This replica's part in the controller election.
struct Election {
    task: AbortOnDrop,
    plane: Arc<ControlPlane>,
    replica: String,
    controller: Slot,
}

impl Election {
    /// Leaves the election: stops the controller if it runs here and gives the lease up, so
    /// another replica resumes the rollouts at once rather than after the lease runs out.
    async fn leave(self) {
        drop(self.task);
        if let Some(controller) = self.controller.swap(None) {
            controller.stop();
            match self.plane.release_lease(&self.replica).await {
                Ok(()) => tracing::info!("controller lease released"),
                Err(e) => tracing::warn!(error = %e, "controller lease not released: it runs out"),
            }
        }
    }
}

impl Running {
    /// Stops accepting and lets in-flight requests finish within the grace period.
    pub(crate) async fn shutdown(self) -> anyhow::Result<()> {
        self.gateway.start_draining();
        if let Some(election) = self.leader {
            election.leave().await;
        }
        if !self.drain.is_zero() {
            tracing::info!(drain = %humane(self.drain), "draining: not ready, still serving");
            tokio::time::sleep(self.drain).await;
        }
        tracing::info!(grace = ?self.grace, "shutting down: no new connections, finishing in-flight requests");
        let _ = self.stop.send(true);
        drain(self.tasks, self.grace).await
    }
}

/// Opens the store, boots the control plane and the controller, and starts serving.
pub(crate) async fn start(
    config: Config,
    base: &Path,
    location: &Location,
    replica: &Replica,
    data_workers: usize,
) -> anyhow::Result<Running> {
    let opened = location
        .open()
        .await
        .with_context(|| format!("opening the store ({location})"))?;
    tracing::info!(store = %location, replica = %replica.id, lease = %humane(replica.lease), "store opened");
    let Booted {
        plane,
        gateway,
        recorder,
    } = ControlPlane::boot(Boot {
        store: opened.store(),
        config: config.services.clone(),
        base,
        max_body: config.max_body_bytes,
        max_model_bytes: config.max_model_bytes,
        ledger: Arc::new(crate::feedback::Ledger::new(
            config.feedback_records,
            config.feedback_ttl,
        )),
    })
    .await
    .context("loading services")?;
    for svc in gateway.snapshot().services.values() {
        tracing::info!(service = %svc.name, route = %svc.route, "service loaded");
    }
    let shared = !matches!(opened, Opened::Embedded(_));
    let mut background: Vec<AbortOnDrop> =
        follow_shared_store(&opened, &plane).into_iter().collect();
    let (relay, outbox) = crate::relay::channel();
    let relay = shared.then_some(relay);
    if let Some(r) = &relay {
        let _ = gateway.relay.set(r.clone());
    }
    let source = metric_source(&config, &recorder, &plane, shared).await;
    let controller: Slot = Arc::new(arc_swap::ArcSwapOption::empty());
    let leader = if shared {
        let publish = fleet::publish(
            Arc::clone(&plane),
            Arc::clone(&recorder),
            replica.id.clone(),
        );
        background.push(AbortOnDrop(tokio::spawn(publish)));
        Some(elect(&plane, source, &config, replica, &controller))
    } else {
        // One process on its own store: it is the controller, with nothing to elect.
        let started = start_controller(&plane, source, &config).await?;
        controller.store(Some(started));
        None
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (data, data_addr) = workers::bind(config.data_addr, data_workers)?;
    tracing::info!(addr = %data_addr, workers = data_workers, "data port listening");
    let relay_gateway = Arc::clone(&gateway);
    let data_app = gateway::routes(Arc::clone(&gateway));
    let limits = conn::HttpLimits::of(&config);
    let data_task = workers::spawn(data, data_app, limits, stop_rx.clone())?;
    let (admin_addr, token) = admin_binding(&config);
    let listener = bind(admin_addr, "admin").await?;
    let admin_addr = listener.local_addr()?;
    let admin = Admin {
        plane,
        controller,
        recorder,
        default_service: config.default_service.as_str().into(),
        relay,
    };
    background.extend(relay_requests(
        &opened,
        &admin,
        &relay_gateway,
        replica,
        outbox,
    ));
    let admin_app = admin_routes(admin, &config, token);
    let admin_task = spawn_server(listener, admin_app, limits, stop_rx);
    Ok(Running {
        data_addr,
        admin_addr,
        stop: stop_tx,
        tasks: vec![data_task, admin_task],
        grace: config.shutdown_grace,
        drain: replica.drain,
        gateway,
        leader,
        _background: background,
    })
}

/// Takes part in the controller election of a shared store: the controller runs here only
/// while this replica holds the lease.
fn elect(
    plane: &Arc<ControlPlane>,
    source: Arc<dyn MetricSource>,
    config: &Config,
    replica: &Replica,
    controller: &Slot,
) -> Election {
    let (p, c) = (Arc::clone(plane), config.clone());
    let start = move || {
        let (p, s, c) = (Arc::clone(&p), Arc::clone(&source), c.clone());
        async move { start_controller(&p, s, &c).await }
    };
    let task = lease::lead(
        Arc::clone(plane),
        replica.id.clone(),
        replica.lease,
        Arc::clone(controller),
        start,
    );
    Election {
        task: AbortOnDrop(tokio::spawn(task)),
        plane: Arc::clone(plane),
        replica: replica.id.clone(),
        controller: Arc::clone(controller),
    }
}

/// On a shared store, follows what the other replicas change (see `control::follow`); the
/// embedded store has one process and nothing to follow.
fn follow_shared_store(opened: &Opened, plane: &Arc<ControlPlane>) -> Option<AbortOnDrop> {
    match opened {
        Opened::Embedded(_) => None,
        #[cfg(feature = "postgres")]
        Opened::Postgres(pg) => {
            let feed = crate::store::postgres::feed::PgFeed::new(pg.pool().clone());
            let task = follow::follow(Arc::clone(plane), feed, follow::POLL);
            Some(AbortOnDrop(tokio::spawn(task)))
        }
    }
}

/// On a shared store, relays requests between replicas (see `relay`): feedback to the
/// replica that answered, rollout calls to the one running the controller.
fn relay_requests(
    opened: &Opened,
    admin: &Admin,
    gateway: &Arc<gateway::Gateway>,
    replica: &Replica,
    outbox: crate::relay::Outbox,
) -> Option<AbortOnDrop> {
    match opened {
        Opened::Embedded(_) => None,
        #[cfg(feature = "postgres")]
        Opened::Postgres(pg) => {
            use crate::store::postgres::{feed::PgFeed, RELAY_CHANNEL};
            let feed = PgFeed::on(pg.pool().clone(), RELAY_CHANNEL);
            let answerers: Vec<Arc<dyn crate::relay::Answerer>> = vec![
                Arc::new(gateway::feedback::RelayedFeedback(Arc::clone(gateway))),
                Arc::new(crate::control::rollout::RelayedRollouts(admin.clone())),
            ];
            let task = crate::relay::run(
                Arc::clone(&admin.plane),
                replica.id.clone(),
                outbox,
                answerers,
                feed,
            );
            Some(AbortOnDrop(tokio::spawn(task)))
        }
    }
}

/// A background task that ends with what owns it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Without a token the admin port never leaves loopback.
fn admin_binding(config: &Config) -> (SocketAddr, Token) {
    let token = std::env::var("ROLLGATE_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| config.admin_token.clone());
    let mut addr = config.admin_addr;
    if token.is_none() {
        if !addr.ip().is_loopback() {
            tracing::warn!(requested = %addr, "no admin token configured: the admin port listens on loopback only");
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        } else {
            tracing::info!("no admin token configured: the control API is open to local clients only (set ROLLGATE_ADMIN_TOKEN)");
        }
    }
    (addr, Token(token.map(Into::into)))
}

/// The analysis windows' source: a Prometheus server when `rollouts.metrics` names one, else
/// the gateway's own counters (on a shared store, every replica's, summed).
async fn metric_source(
    config: &Config,
    recorder: &Arc<crate::telemetry::Recorder>,
    plane: &Arc<ControlPlane>,
    shared: bool,
) -> Arc<dyn MetricSource> {
    match &config.metrics {
        MetricsSpec::Prometheus { url, queries } => {
            tracing::info!(url = %url, "analysis windows are read from Prometheus");
            Arc::new(PrometheusSource::new(url, queries, QUERY_TIMEOUT))
        }
        MetricsSpec::Local if shared => FleetSource::start(Arc::clone(plane)).await,
        MetricsSpec::Local => Arc::new(LocalSource::new(Arc::clone(recorder))),
    }
}

/// Starts the rollout controller over `source`, with the built-in analysis template unless
/// the config redefines it.
async fn start_controller(
    plane: &Arc<ControlPlane>,
    source: Arc<dyn MetricSource>,
    config: &Config,
) -> anyhow::Result<Arc<Controller>> {
    let mut templates = crate::controller::builtin_templates()?;
    templates.extend(config.templates.iter().cloned());
    let settings = Settings {
        tick: config.rollout_tick,
        templates,
        webhooks: WebhookConfig {
            urls: config.webhooks.clone(),
            backoff: config.webhook_backoff,
            timeout: std::time::Duration::from_secs(5),
        },
    };
    Controller::start(Arc::clone(plane), source, settings)
        .await
        .context("loading rollouts")
}

fn admin_routes(admin: Admin, config: &Config, token: Token) -> Router {
    api::routes(admin)
        .layer(axum::middleware::from_fn_with_state(token, auth::layer))
        .merge(api::public_routes())
        .merge(crate::control::dashboard::routes())
        .layer(axum::extract::DefaultBodyLimit::max(config.max_model_bytes))
        .layer(axum::middleware::from_fn(
            crate::gateway::error::json_errors,
        ))
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} ({what} port)"))?;
    tracing::info!(addr = %listener.local_addr()?, "{what} port listening");
    Ok(listener)
}

fn spawn_server(
    listener: TcpListener,
    app: Router,
    limits: conn::HttpLimits,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let slots = limits.connection_slots(0, 1);
    tokio::spawn(conn::serve(listener, app, limits, false, slots, stop))
}

async fn drain(
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    grace: Duration,
) -> anyhow::Result<()> {
    let all = futures_util::future::join_all(tasks);
    match tokio::time::timeout(grace, all).await {
        Ok(results) => {
            for joined in results {
                joined.context("server task")?.context("serving")?;
            }
            tracing::info!("stopped cleanly");
        }
        Err(_) => tracing::warn!(
            ?grace,
            "grace period over: stopping with requests still in flight"
        ),
    }
    Ok(())
}

/// Registers SIGTERM and SIGINT handlers now (before any port accepts, so an early signal is
/// never fatal) and returns the future that resolves on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
