//! Where the control state lives, as chosen on the command line: the embedded SQLite file in
//! the data dir (one machine), or a shared PostgreSQL database (several replicas).

use super::sqlite::SqliteStore;
use super::{Store, StoreError};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A store to open.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// `rollgate.db` in this directory.
    Embedded(PathBuf),
    /// A `postgres://` or `postgresql://` URL (it may carry a password: never shown).
    Postgres(String),
}

/// A `--store` value Rollgate cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LocationError {
    #[error("--store `{scheme}:...`: not a store Rollgate knows (give a postgres:// URL, or leave --store out for the embedded store in --data-dir)")]
    UnknownScheme { scheme: String },
    #[error("--store: `{0}` is not a URL (give postgres://user:password@host:port/database)")]
    NotAUrl(String),
    #[error("--store postgres://...: this build of Rollgate has no PostgreSQL store (built without the `postgres` feature)")]
    NotBuiltIn,
}

impl Location {
    /// `--store` when given (a PostgreSQL URL), else the embedded store in `data_dir`.
    pub(crate) fn choose(store: Option<&str>, data_dir: PathBuf) -> Result<Self, LocationError> {
        let Some(url) = store.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::Embedded(data_dir));
        };
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(LocationError::NotAUrl(redact(url)));
        };
        match scheme {
            "postgres" | "postgresql" if cfg!(feature = "postgres") => {
                Ok(Self::Postgres(url.to_owned()))
            }
            "postgres" | "postgresql" => Err(LocationError::NotBuiltIn),
            other => Err(LocationError::UnknownScheme {
                scheme: other.to_owned(),
            }),
        }
    }

    /// Opens the store, bringing its schema up to date.
    pub(crate) async fn open(&self) -> Result<Opened, StoreError> {
        match self {
            Self::Embedded(dir) => Ok(Opened::Embedded(SqliteStore::open(dir).await?)),
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => Ok(Opened::Postgres(super::postgres::PgStore::open(url).await?)),
            #[cfg(not(feature = "postgres"))]
            Self::Postgres(_) => unreachable!("`choose` refuses postgres without the feature"),
        }
    }
}

/// An open store, by engine: the shared one has more to offer than the [`Store`] trait (its
/// change feed and leader lease).
#[derive(Debug, Clone)]
pub(crate) enum Opened {
    Embedded(SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(super::postgres::PgStore),
}

impl Opened {
    /// The store as the control plane uses it.
    pub(crate) fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Embedded(s) => Arc::new(s.clone()),
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => Arc::new(s.clone()),
        }
    }
}

/// A URL with its password replaced, for messages and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(12).collect::<String>() + "...";
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    let user = credentials.split(':').next().unwrap_or("");
    format!("{scheme}://{user}:***@{host}")
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded(dir) => write!(f, "SQLite in `{}`", dir.display()),
            Self::Postgres(url) => write!(f, "PostgreSQL at {}", redact(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_store_means_the_embedded_one_in_the_data_dir() {
        let dir = PathBuf::from("data");
        assert_eq!(
            Location::choose(None, dir.clone()),
            Ok(Location::Embedded(dir.clone()))
        );
        assert_eq!(
            Location::choose(Some(" "), dir.clone()),
            Ok(Location::Embedded(dir))
        );
    }

    #[test]
    fn a_postgres_url_selects_the_shared_store() {
        for url in ["postgres://u:p@db:5432/rg", "postgresql://db/rg"] {
            assert_eq!(
                Location::choose(Some(url), PathBuf::new()),
                Ok(Location::Postgres(url.to_owned()))
            );
        }
    }

    #[test]
    fn other_stores_are_refused_by_name() {
        let err = Location::choose(Some("mysql://db/rg"), PathBuf::new()).unwrap_err();
        assert!(err.to_string().contains("`mysql:...`"), "{err}");
        let err = Location::choose(Some("db.example:5432"), PathBuf::new()).unwrap_err();
        assert!(matches!(err, LocationError::NotAUrl(_)), "{err}");
    }

    #[test]
    fn the_password_never_shows() {
        let at = Location::Postgres("postgres://rollgate:s3cret@db:5432/rg".into());
        assert_eq!(
            at.to_string(),
            "PostgreSQL at postgres://rollgate:***@db:5432/rg"
        );
        assert_eq!(format!("{at:?}"), at.to_string());
        let err =
            Location::choose(Some("s3cret-password-without-scheme"), PathBuf::new()).unwrap_err();
        assert!(!err.to_string().contains("s3cret-password"), "{err}");
    }
}
