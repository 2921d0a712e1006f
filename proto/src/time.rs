//! Time (RFC 3339, whole seconds) and MicroTime (RFC 3339 with microseconds), as
//! `metav1.Time` and `metav1.MicroTime` write them: always in UTC with a `Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `metav1.Time`: seconds since the Unix epoch. Input may carry a fraction or an offset;
/// the fraction is dropped (Kubernetes serializes Time with second precision) and the
/// output is UTC.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Time(pub i64);

/// `metav1.MicroTime`: microseconds since the Unix epoch.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct MicroTime(pub i64);

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("parsing time {s:?} as RFC 3339: {e}"))
}

impl Time {
    pub fn now() -> Time {
        Time(Utc::now().timestamp())
    }

    pub fn parse(s: &str) -> Result<Time, String> {
        parse_rfc3339(s).map(|t| Time(t.timestamp()))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    fn datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.0, 0)
    }
}

impl MicroTime {
    pub fn now() -> MicroTime {
        MicroTime(Utc::now().timestamp_micros())
    }

    pub fn parse(s: &str) -> Result<MicroTime, String> {
        parse_rfc3339(s).map(|t| MicroTime(t.timestamp_micros()))
    }

    pub fn unix_micros(self) -> i64 {
        self.0
    }

    fn datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.datetime() {
            Some(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            None => write!(f, "<time {} out of range>", self.0),
        }
    }
}

impl std::fmt::Display for MicroTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.datetime() {
            Some(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true)),
            None => write!(f, "<time {} out of range>", self.0),
        }
    }
}

macro_rules! time_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.datetime() {
                    Some(_) => serializer.collect_str(self),
                    None => Err(serde::ser::Error::custom(format!(
                        "time {} is out of range",
                        self.0
                    ))),
                }
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(deserializer)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
time_serde!(Time);
time_serde!(MicroTime);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip_and_canonical_form() {
        for (input, output) in [
            ("2024-03-01T12:00:00Z", "2024-03-01T12:00:00Z"),
            ("2024-03-01T12:00:00.789Z", "2024-03-01T12:00:00Z"),
            ("2024-03-01T14:00:00+02:00", "2024-03-01T12:00:00Z"),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
        ] {
            let t: Time = serde_json::from_str(&format!("{input:?}")).unwrap();
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("{output:?}"),
                "{input}"
            );
        }
        assert!(serde_json::from_str::<Time>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<Time>("\"\"").is_err());
        assert!(serde_json::from_str::<Time>("12").is_err());
    }

    #[test]
    fn micro_time_keeps_microseconds() {
        let t: MicroTime = serde_json::from_str("\"2024-03-01T12:00:00.123456Z\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-03-01T12:00:00.123456Z\""
        );
        let t: MicroTime = serde_json::from_str("\"2024-03-01T12:00:00Z\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2024-03-01T12:00:00.000000Z\""
        );
    }

    #[test]
    fn out_of_range_time_is_an_error_not_a_panic() {
        assert!(serde_json::to_string(&Time(i64::MAX)).is_err());
        assert!(serde_json::to_string(&MicroTime(i64::MIN)).is_err());
    }
}
