//! A throwaway PostgreSQL cluster for the replica tests, started with the repository's
//! `scripts/postgres.sh` on a free loopback port, stopped (immediately) when dropped. A test
//! may stop and start it to play an outage.

#![allow(clippy::unwrap_used)]

use super::{workspace_root, TempDir};
use std::process::Command;

/// A running PostgreSQL test cluster.
pub(crate) struct Postgres {
    dir: TempDir,
    url: String,
}

fn script(verb: &str, dir: &TempDir) -> String {
    let out = Command::new("bash")
        .arg(workspace_root().join("scripts/postgres.sh"))
        .arg(verb)
        .arg(dir.path())
        .output()
        .expect("scripts/postgres.sh runs");
    assert!(
        out.status.success(),
        "scripts/postgres.sh {verb} failed (scripts/test.sh installs PostgreSQL): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Postgres {
    /// Initialises and starts a cluster.
    pub(crate) fn start() -> Self {
        let dir = TempDir::new();
        let url = script("start", &dir);
        Self { dir, url }
    }

    /// The URL of its `postgres` database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server at once, as a crash of the database would.
    pub(crate) fn kill(&self) {
        script("kill", &self.dir);
    }

    /// Starts it again on the same port.
    pub(crate) fn restart(&self) {
        script("start", &self.dir);
    }

    /// Runs one SQL statement with `psql`, returning what it prints (unaligned, no headers).
    pub(crate) fn sql(&self, statement: &str) -> String {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-tA", "-c", statement])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql `{statement}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(workspace_root().join("scripts/postgres.sh"))
            .arg("kill")
            .arg(self.dir.path())
            .output();
    }
}
