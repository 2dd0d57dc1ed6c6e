//! How request fields treat `null`, numbers and arrays, the same way
//! everywhere and as `openapi.yaml` says:
//! - an optional field given as `null` means "not given" (clients that
//!   serialize an unset field as `null` get the default, not a 400);
//! - a whole-number field takes a JSON number with no fraction, `1000.0`
//!   included (JSON Schema's `integer` accepts it), and refuses `1000.5`;
//! - an object is an object: serde would also build a struct from a JSON
//!   array of its fields in order (`"policy": [null, null]`), which no
//!   client means; [`ObjectsOnly`] refuses that.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// `null` as the field's default (an empty list, a default policy).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An optional whole number: absent or `null` is `None`; `1000` and
/// `1000.0` are 1000; a fraction, a negative or a non-number is refused.
pub fn whole_number<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // Below 2^53 a float is exact, and a fraction-free one is whole.
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 => {
            Ok(Some(f as u64))
        }
        _ => Err(de::Error::custom(format_args!(
            "{number} is not a whole number of 0 or more"
        ))),
    }
}

/// A deserializer whose structs must be JSON objects.
pub struct ObjectsOnly<D>(pub D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectsOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, NoArrays(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A struct's visitor with its array form taken away.
struct NoArrays<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for NoArrays<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}

/// An object-typed field: an object, or `null` / absent for its default.
pub fn object_or_null<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    deserializer.deserialize_option(OptionalObject(PhantomData))
}

struct OptionalObject<T>(PhantomData<T>);

impl<'de, T: Default + Deserialize<'de>> Visitor<'de> for OptionalObject<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize(ObjectsOnly(deserializer))
    }
}

/// A list of objects, or `null` / absent for an empty list.
pub fn objects_or_null<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_option(OptionalObjects(PhantomData))
}

struct OptionalObjects<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OptionalObjects<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ObjectSeed(PhantomData))? {
            items.push(item);
        }
        Ok(items)
    }
}

struct ObjectSeed<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize(ObjectsOnly(deserializer))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<u64>,
        #[serde(default, deserialize_with = "null_as_default")]
        list: Vec<String>,
        #[serde(default, deserialize_with = "object_or_null")]
        inner: Inner,
        #[serde(default, deserialize_with = "objects_or_null")]
        items: Vec<Inner>,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Inner {
        #[serde(default)]
        a: Option<String>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        Body::deserialize(ObjectsOnly(&mut de)).map_err(|e| e.to_string())
    }

    #[test]
    fn an_object_written_as_an_array_is_refused_at_every_level() {
        for bad in [r#"[null]"#, r#"{"inner": ["x"]}"#, r#"{"items": [["x"]]}"#] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("expected an object"), "{bad}: {err}");
        }
        let body = parse(r#"{"inner": {"a": "x"}, "items": [{"a": "y"}], "n": 1}"#).unwrap();
        assert_eq!((body.inner.a.as_deref(), body.items.len()), (Some("x"), 1));
        let body = parse(r#"{"inner": null, "items": null}"#).unwrap();
        assert_eq!((body.inner.a, body.items.len()), (None, 0));
    }

    #[test]
    fn null_is_the_same_as_absent() {
        let body = parse(r#"{"n": null, "list": null}"#).unwrap();
        assert_eq!((body.n, body.list.len()), (None, 0));
        assert_eq!(parse("{}").unwrap().n, None);
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        assert_eq!(parse(r#"{"n": 1000}"#).unwrap().n, Some(1000));
        assert_eq!(parse(r#"{"n": 1000.0}"#).unwrap().n, Some(1000));
        assert_eq!(parse(r#"{"n": 1e3}"#).unwrap().n, Some(1000));
        for bad in ["1000.5", "-1", "-0.5", "1e300", "\"5\""] {
            let err = parse(&format!(r#"{{"n": {bad}}}"#)).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
    }
}
