//! How request fields treat `null` and numbers, the same way everywhere and
//! as `openapi.yaml` says:
//! - an optional field given as `null` means "not given" (clients that
//!   serialize an unset field as `null` get the default, not a 400);
//! - a whole-number field takes a JSON number with no fraction, `1000.0`
//!   included (JSON Schema's `integer` accepts it), and refuses `1000.5`.

use serde::de::{self, Deserialize, Deserializer};

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
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
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
