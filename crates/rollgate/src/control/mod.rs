//! The control plane: durable state, the control API on the admin port, and the changes that
//! swap what the data plane serves without a restart.

mod admin;
pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod dashboard;
mod flags;
pub(crate) mod follow;
pub(crate) mod loader;
pub(crate) mod plane;
pub(crate) mod rollout;
pub(crate) mod seed;
mod upload;
pub(crate) mod view;

use rollgate_core::catalog::ServiceState;
use rollgate_core::config::{file::RouteFile, route_from_file, ConfigError};
use rollgate_core::route::RouteSpec;

/// Validates a route document sent to the API against the service's versions.
pub(crate) fn route_spec(state: &ServiceState, file: RouteFile) -> Result<RouteSpec, ConfigError> {
    let versions = state.spec.route.versions().to_vec();
    route_from_file(&state.spec.name, versions, file).map(|t| t.to_spec())
}
