//! Rollgate: the gateway that routes, measures and rolls out ML model versions.
//!
//! `main` only parses the command line and hands over to a command module; every command
//! returns `anyhow::Result` so errors reach the user with their full context.

mod backend;
mod cli;
mod control;
mod gateway;
mod serve;
mod store;
mod telemetry;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
