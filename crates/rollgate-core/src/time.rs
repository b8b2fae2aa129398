//! Time as the core sees it: a number handed in by the caller.
//!
//! The core never reads a clock. Callers pass the current time as Unix milliseconds, so a
//! rollout step's elapsed time or an analysis warm-up is a deterministic function of inputs
//! and survives a restart (it is stored as the same number).

/// Milliseconds since the Unix epoch, as given by the caller's clock.
pub type UnixMillis = u64;
