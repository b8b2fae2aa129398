//! A one-pass reader of an answer's predictions.
//!
//! Every proxied answer is read on its way back, so the reading is on the hot path. Parsing
//! the whole document into a `serde_json::Value` allocated a map per object and a string per
//! key; this reader walks the document once with serde's visitors, keeps only the rows of
//! `predictions` / `prediction`, and skips the rest (probabilities, metadata) without
//! buffering it. The Open Inference `outputs` list, rarer and richer, is kept as a `Value`.
//!
//! What it reads is what [`super::interpret`] documents; a test reads random documents both
//! ways and compares.

use super::{class_index, Row};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The parts of an answer that can say what it predicted; the last of duplicate keys wins.
#[derive(Debug, Default)]
pub(super) struct Doc {
    /// `None` when absent or not an array.
    pub(super) predictions: Option<Vec<Row>>,
    pub(super) prediction: Option<Row>,
    pub(super) outputs: Option<Value>,
}

/// Reads `body`: `None` when it is not one JSON document, `Some(None)` when it is one but not
/// an object.
pub(super) fn read(body: &[u8], classes: &[String]) -> Option<Option<Doc>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let doc = DocSeed(classes).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(doc)
}

/// Implements the visitor methods of the scalar JSON types to answer `$value`.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A key, as its index among the names looked for (`None`: another key).
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| *k == key))
    }
}

const DOC_FIELDS: &[&str] = &["predictions", "prediction", "outputs"];
/// The fields of a row object naming its prediction, in order of precedence.
const ROW_FIELDS: &[&str] = &["class", "label", "prediction"];

struct DocSeed<'c>(&'c [String]);

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = Option<Doc>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = Option<Doc>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON document")
    }
    scalars_are!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut doc = Doc::default();
        let row = RowSeed {
            classes: self.0,
            nested: false,
        };
        while let Some(key) = map.next_key_seed(Key(DOC_FIELDS))? {
            match key {
                Some(0) => doc.predictions = map.next_value_seed(RowsSeed(row))?,
                Some(1) => doc.prediction = Some(map.next_value_seed(row)?),
                Some(_) => doc.outputs = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(doc))
    }
}

/// An array of rows; `None` for any other value.
struct RowsSeed<'c>(RowSeed<'c>);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Row>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Row>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of predictions")
    }
    scalars_are!(None);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(row) = seq.next_element_seed(self.0)? {
            rows.push(row);
        }
        Ok(Some(rows))
    }
}

/// One row: a class, a value, or an object naming one of those (`nested`: inside such an
/// object, where another object is not a prediction).
#[derive(Clone, Copy)]
struct RowSeed<'c> {
    classes: &'c [String],
    nested: bool,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Row;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Row;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a prediction")
    }
    // An integer literal is a class; any other number a regression value.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Row, E> {
        Ok(Row::Class(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Row, E> {
        Ok(i64::try_from(v).map_or(Row::Value(v as f32), Row::Class))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Row, E> {
        Ok(Row::Value(v as f32))
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Row, E> {
        Ok(Row::Class(class_index(name, self.classes)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Row, E> {
        Ok(Row::Unknown)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Row, E> {
        Ok(Row::Unknown)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Row, A::Error> {
        skip_seq(seq).map(|()| Row::Unknown)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        if self.nested {
            return skip_map(map).map(|()| Row::Unknown);
        }
        let inner = RowSeed {
            nested: true,
            ..self
        };
        let mut found = [None; ROW_FIELDS.len()];
        while let Some(key) = map.next_key_seed(Key(ROW_FIELDS))? {
            match key {
                Some(i) => found[i] = Some(map.next_value_seed(inner)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found.into_iter().flatten().next().unwrap_or(Row::Unknown))
    }
}
