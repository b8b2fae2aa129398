//! Rollgate's pure domain: everything that decides, nothing that waits.
//!
//! This crate holds the route tables and the routing decision, the configuration model and its
//! validation, and the data types that cross a model boundary. It does no I/O, reads no clock
//! and draws no random number of its own: callers inject them, so every decision here is a
//! deterministic function of its inputs and is tested exhaustively.

pub mod analysis;
pub mod catalog;
pub mod config;
pub mod document;
pub mod flags;
pub mod rollout;
pub mod route;
pub mod router;
pub mod stats;
pub mod tensor;
#[cfg(test)]
mod testing;
pub mod time;
