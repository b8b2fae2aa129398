//! The versioned schema of each engine: numbered SQL files under `migrations/<engine>/`,
//! compiled into the binary and applied in order by sqlx's migrator, which records each one in
//! `_sqlx_migrations` and refuses a database whose applied migrations were changed since.
//!
//! The files are embedded with `include_str!` and the migrator is assembled here, rather than
//! with `sqlx::migrate!`, so the build needs no sqlx macros (and no second compile of the
//! database drivers for them).

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// One migration file: its number, what it does, its SQL.
type Source = (i64, &'static str, &'static str);

/// The embedded store's migrations.
const SQLITE: &[Source] = &[
    (
        1,
        "initial",
        include_str!("migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "controller lease",
        include_str!("migrations/sqlite/0002_controller_lease.sql"),
    ),
    (
        3,
        "fleet windows",
        include_str!("migrations/sqlite/0003_fleet_windows.sql"),
    ),
    (
        4,
        "relay inbox",
        include_str!("migrations/sqlite/0004_relay_inbox.sql"),
    ),
];

/// The shared store's migrations.
#[cfg(feature = "postgres")]
const POSTGRES: &[Source] = &[
    (
        1,
        "initial",
        include_str!("migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "controller lease",
        include_str!("migrations/postgres/0002_controller_lease.sql"),
    ),
    (
        3,
        "fleet windows",
        include_str!("migrations/postgres/0003_fleet_windows.sql"),
    ),
    (
        4,
        "relay inbox",
        include_str!("migrations/postgres/0004_relay_inbox.sql"),
    ),
];

fn migrator(sources: &[Source]) -> Migrator {
    let migrations: Vec<Migration> = sources
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// The migrator of the embedded store.
pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

/// The migrator of the shared store. Its lock (an advisory lock held while migrating) keeps
/// replicas that start together from migrating the same database twice.
#[cfg(feature = "postgres")]
pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every migration file of an engine is compiled in, numbered as its file name says.
    fn listed_as_on_disk(engine: &str, sources: &[Source]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/store/migrations")
            .join(engine);
        let mut on_disk: Vec<i64> = std::fs::read_dir(&dir)
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .map(|name| name[..4].parse().expect("a numbered file"))
            .collect();
        on_disk.sort_unstable();
        let listed: Vec<i64> = sources.iter().map(|s| s.0).collect();
        assert_eq!(
            listed, on_disk,
            "{engine}: listed migrations differ from the files"
        );
    }

    #[test]
    fn every_migration_file_is_listed() {
        listed_as_on_disk("sqlite", SQLITE);
        #[cfg(feature = "postgres")]
        listed_as_on_disk("postgres", POSTGRES);
    }
}
