//! Rollgate: the gateway that routes, measures and rolls out ML model versions.
//!
//! `main` only parses the command line and hands over to a command module; commands return
//! `anyhow::Result` so errors reach the user with their full context.

mod backend;
mod cli;
mod control;
mod controller;
mod feedback;
mod gateway;
mod metrics_source;
mod relay;
mod serve;
mod store;
mod telemetry;
mod worker;

/// mimalloc instead of glibc malloc: a request allocates and frees a few dozen small blocks
/// (header maps, body chunks, futures), and glibc's arena locking and consolidation showed as
/// several percent of the proxy profile; mimalloc's thread-local free lists make them cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
