//! The evaluation context: who is asking, and what the gateway read off the request.
//!
//! It borrows its strings from the request (header values, a parsed JSON body), so building
//! one allocates only the attribute vector. Requests carry a handful of attributes, so a
//! linear scan over a small vector beats hashing.

use super::file::Scalar;

/// The attribute name that clauses use to read the user key.
pub const KEY_ATTRIBUTE: &str = "key";

/// An attribute value: a JSON-like scalar borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A string (every header value is one).
    Str(&'a str),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Str(s)
    }
}

impl From<f64> for Value<'_> {
    fn from(n: f64) -> Self {
        Value::Num(n)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Num(n as f64)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl<'a> From<&'a Scalar> for Value<'a> {
    fn from(s: &'a Scalar) -> Self {
        match s {
            Scalar::Str(s) => Value::Str(s),
            Scalar::Num(n) => Value::Num(*n),
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Who is asking: an optional user key and named attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context<'a> {
    key: Option<&'a str>,
    attributes: Vec<(&'a str, Value<'a>)>,
}

impl<'a> Context<'a> {
    /// An anonymous context without attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context for the user `key`.
    pub fn with_key(key: &'a str) -> Self {
        Self {
            key: Some(key),
            attributes: Vec::new(),
        }
    }

    /// Builder form of [`Context::set`].
    #[must_use]
    pub fn attr(mut self, name: &'a str, value: impl Into<Value<'a>>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets an attribute, replacing an earlier value of the same name.
    pub fn set(&mut self, name: &'a str, value: impl Into<Value<'a>>) {
        let value = value.into();
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
    }

    /// The user key, if the request carried one.
    pub fn key(&self) -> Option<&'a str> {
        self.key
    }

    /// An attribute by name; `key` falls back to the user key when not set explicitly.
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .or_else(|| (name == KEY_ATTRIBUTE).then_some(self.key?.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_set_replaces_and_key_is_an_attribute() {
        let ctx = Context::with_key("u1").attr("a", 1i64).attr("a", "x");
        assert_eq!(ctx.get("a"), Some(Value::Str("x")));
        assert_eq!(ctx.get("key"), Some(Value::Str("u1")));
        assert_eq!(ctx.get("missing"), None);
        assert_eq!(Context::new().get("key"), None);
        assert_eq!(
            Context::new().attr("key", true).get("key"),
            Some(Value::Bool(true))
        );
    }
}
