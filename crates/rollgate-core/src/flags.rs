//! Feature flags: targeting rules evaluated per request to choose a model version.
