//! What every document Rollgate reads shares, whatever it describes (the configuration, its
//! feature flags, a rollout plan, a change through the control API): the error that names the
//! field at fault, the order-keeping map of named entries, and the rule for names. A leaf:
//! `config`, `flags` and `rollout` build on it, so none of them needs another for these.

mod ordered;

pub use ordered::OrderedMap;

/// Longest service or version name; they appear in URLs, metric labels and file names.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// A configuration error, naming the field (as a dotted path) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not valid YAML for the file model (syntax, unknown key, wrong type).
    #[error("{0}")]
    Parse(String),
    /// A field holds a value that is not allowed.
    #[error("field `{field}`: {problem}")]
    Invalid {
        /// Dotted path of the field, e.g. `services.iris.route.weights`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl ToString) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            problem: problem.to_string(),
        }
    }
}

/// Why a service or version name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, or longer than [`MAX_NAME_LEN`].
    #[error("names must be 1 to {MAX_NAME_LEN} characters")]
    Length,
    /// A character other than letters, digits, `-`, `_` and `.`, or a leading `.`.
    #[error("`{0}` may only hold letters, digits, `-`, `_` and `.` (not first)")]
    Characters(String),
}

/// Checks a service or version name: short, and safe in a URL path, a label and a file name.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(NameError::Length);
    }
    if !name.chars().all(ok_char) || name.starts_with('.') {
        return Err(NameError::Characters(name.to_owned()));
    }
    Ok(())
}
