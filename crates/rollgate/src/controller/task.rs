//! One task per rollout.
//!
//! Each rollout's [`Run`] is owned by a task of its own and changed only there, fed by a
//! channel: operator verbs and interventions (answered through a oneshot), reports of its
//! rolling batch, and ticks. Ticks come through a [`Notify`], which keeps at most one pending:
//! a task busy with a slow metric query or smoke request misses ticks instead of queueing
//! them, and nothing it waits for holds up any other rollout. Readers get the latest view
//! from a `watch` channel, so reading never waits behind the task either (as linkerd's and
//! Vector's components are driven).

use super::batch::Report;
use super::{Controller, RolloutError, Run, Verb};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// What a rollout's task is asked to do.
#[derive(Debug)]
pub(super) enum Command {
    /// An operator verb; the answer is the rollout's view, or why the verb did not apply.
    Verb(Verb, oneshot::Sender<Result<Value, RolloutError>>),
    /// An operator changed traffic by hand (a seed verb) during the rollout.
    Intervened(String, oneshot::Sender<()>),
    /// A tick now, answered once done (tests tick by hand).
    #[cfg(test)]
    Tick(oneshot::Sender<()>),
}

/// What the task publishes after every message it handled.
#[derive(Debug, Clone)]
pub(super) struct Published {
    pub(super) view: Value,
    pub(super) terminal: bool,
}

/// The controller's handle on one rollout's task. Dropping it stops the task.
#[derive(Debug)]
pub(super) struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    tick: Arc<Notify>,
    published: watch::Receiver<Published>,
}

impl Handle {
    /// Starts the task owning `run`; its batch reports arrive on `reports`.
    pub(super) fn spawn(
        ctl: Arc<Controller>,
        service: String,
        run: Run,
        reports: mpsc::UnboundedReceiver<Report>,
    ) -> Self {
        let (commands, rx) = mpsc::unbounded_channel();
        let tick = Arc::new(Notify::new());
        let (publish, published) = watch::channel(publication(&service, &run));
        let task = Task {
            ctl,
            service,
            run,
            publish,
        };
        tokio::spawn(task.serve(rx, reports, Arc::clone(&tick)));
        Self {
            commands,
            tick,
            published,
        }
    }

    /// Asks for a tick; coalesces with one already pending.
    pub(super) fn tick(&self) {
        self.tick.notify_one();
    }

    /// The latest view and whether the rollout has ended.
    pub(super) fn published(&self) -> Published {
        self.published.borrow().clone()
    }

    /// Sends a command; false when the task has stopped.
    pub(super) fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// A rollout's task: its run and where it publishes.
struct Task {
    ctl: Arc<Controller>,
    service: String,
    run: Run,
    publish: watch::Sender<Published>,
}

impl Task {
    async fn serve(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        tick: Arc<Notify>,
    ) {
        loop {
            tokio::select! {
                // Operators first: a verb is never starved by ticks.
                biased;
                command = commands.recv() => match command {
                    Some(c) => self.command(c).await,
                    None => break,
                },
                Some(report) = reports.recv() => {
                    self.ctl.batch_report(&self.service, &mut self.run, report).await;
                }
                () = tick.notified() => self.ctl.tick_one(&self.service, &mut self.run).await,
            }
            self.publish
                .send_replace(publication(&self.service, &self.run));
        }
        super::replace::stop_batch(&mut self.run).await;
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Verb(verb, reply) => {
                let answer = self.ctl.verb(&self.service, &mut self.run, verb).await;
                let _ = reply.send(answer);
            }
            Command::Intervened(verb, done) => {
                self.ctl
                    .intervene(&self.service, &mut self.run, &verb)
                    .await;
                let _ = done.send(());
            }
            #[cfg(test)]
            Command::Tick(done) => {
                self.ctl.tick_one(&self.service, &mut self.run).await;
                let _ = done.send(());
            }
        }
    }
}

fn publication(service: &str, run: &Run) -> Published {
    Published {
        view: run.view(service),
        terminal: run.state.phase.is_terminal(),
    }
}
