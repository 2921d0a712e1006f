//! Small serde helpers shared by the generated types.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Deserializes a required field, treating an explicit `null` like an absent field: Go's
/// decoder leaves the field at its zero value in both cases, and so do we.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// Writes an `f64` as Go's encoding/json does: integral values without a fraction
/// (`5`, not `5.0`), everything else as the shortest round-tripping decimal.
pub struct GoFloat<'a>(pub &'a f64);

/// The largest magnitude Go writes in plain (non-exponent) notation.
const GO_PLAIN_FLOAT_LIMIT: f64 = 1e21;

impl Serialize for GoFloat<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_go_float(*self.0, serializer)
    }
}

/// See [`GoFloat`].
pub fn serialize_go_float<S: Serializer>(value: f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < GO_PLAIN_FLOAT_LIMIT {
        // Exact: |value| < 2^63 here, so the conversion does not saturate.
        if value.abs() < 9.223_372_036_854_776e18 {
            return serializer.serialize_i64(value as i64);
        }
    }
    serializer.serialize_f64(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_floats() {
        for (v, json) in [
            (5.0, "5"),
            (0.5, "0.5"),
            (-3.0, "-3"),
            (1.25e-7, "1.25e-7"),
            (0.0, "0"),
        ] {
            assert_eq!(serde_json::to_string(&GoFloat(&v)).unwrap(), json);
        }
    }

    #[test]
    fn null_is_default() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "null_as_default")]
            items: Vec<i32>,
        }
        let t: T = serde_json::from_str(r#"{"items":null}"#).unwrap();
        assert!(t.items.is_empty());
        let t: T = serde_json::from_str(r#"{}"#).unwrap();
        assert!(t.items.is_empty());
        let t: T = serde_json::from_str(r#"{"items":[1]}"#).unwrap();
        assert_eq!(t.items, vec![1]);
    }
}
