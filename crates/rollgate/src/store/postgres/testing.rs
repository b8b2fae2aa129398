//! A throwaway PostgreSQL cluster for unit tests, started with the repository's
//! `scripts/postgres.sh` (which installs nothing: the test suite's set-up does) and stopped
//! when dropped.

use std::path::PathBuf;
use std::process::Command;

/// A running test cluster on a free loopback port.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh")
}

fn run(verb: &str, dir: &std::path::Path) -> String {
    let out = Command::new("bash")
        .arg(script())
        .arg(verb)
        .arg(dir)
        .output()
        .expect("scripts/postgres.sh runs");
    assert!(
        out.status.success(),
        "scripts/postgres.sh {verb} failed (is PostgreSQL installed? scripts/test.sh installs \
         it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Cluster {
    /// Initialises and starts a cluster in a new temporary directory.
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = run("start", dir.path());
        Self { dir, url }
    }

    /// The URL of its `postgres` database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("kill")
            .arg(self.dir.path())
            .output();
    }
}
