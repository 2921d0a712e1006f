//! Kubernetes resource quantities (`resource.Quantity` from `k8s.io/apimachinery/pkg/api/resource`):
//! parsing, canonical formatting, arithmetic, comparison, serde (JSON) and rkyv support.
//!
//! # Model
//!
//! A [`Quantity`] is an exact fixed-point number stored as a signed count of nano-units
//! (`i128`) together with the [`Format`] it was written in. Kubernetes rounds every
//! parsed value *up* (away from zero) to nano precision, so nano-units lose nothing.
//!
//! Accepted syntax (identical to Go's `ParseQuantity`):
//!
//! ```text
//! quantity ::= [+-] number suffix
//! number   ::= digits | digits "." | digits "." digits | "." digits   (also "" or "."; both mean 0)
//! suffix   ::= "" | n | u | m | k | M | G | T | P | E          (DecimalSI, powers of 1000)
//!            | Ki | Mi | Gi | Ti | Pi | Ei                     (BinarySI, powers of 1024)
//!            | (e | E) [+-] digits                             (DecimalExponent)
//! ```
//!
//! Leading or trailing whitespace is rejected by [`Quantity::parse`], exactly like
//! `ParseQuantity`; the serde implementation trims it first, like Go's `UnmarshalJSON`.
//!
//! The canonical string (`Display`, JSON) follows `Quantity.String()`: no fractional
//! digits, the largest suffix that loses no precision, `BinarySI` values that are below
//! 1024 in magnitude or not whole numbers shown as `DecimalSI`, and zero always `"0"`.
//!
//! # Range
//!
//! Go caps parsed `BinarySI` values at 2^63-1 units, and so does this module. Go does
//! *not* cap decimal values (`"10E"` stays 10^19 and re-serialises as `"10E"`); they are
//! kept exactly here as long as they fit in [`MAX_NANOS`] (about 1.7 * 10^29 units).
//! Larger magnitudes — from parsing or arithmetic — saturate at ±[`MAX_NANOS`], whereas
//! Go's `inf.Dec` path would keep them.
//!
//! # Deliberate differences from Go
//!
//! * Go's `ParseQuantity` caches the input string for some int64-representable inputs
//!   and `String()` then echoes it verbatim, so Go prints `"+1"`, `"01"`, `"1E3"`, `"1."`,
//!   `"1.G"` and `"1.001"` as given (see kubernetes/kubernetes#138165). Clipper always
//!   emits the canonical form (`"1"`, `"1"`, `"1e3"`, `"1"`, `"1G"`, `"1001m"`). Inputs
//!   that are already canonical print the same either way.
//! * Canonical exponents beyond the suffix tables (`DecimalSI` above `E`, `BinarySI`
//!   above `Ei`) are written in exponent notation (`"1000E"` → `"1e21"`), as the
//!   upstream fix kubernetes/kubernetes#140459 does; older Go dropped the suffix and
//!   printed `"1"`.
//! * [`Quantity::value`], [`Quantity::milli_value`] and [`Quantity::scaled_value`]
//!   saturate at the `i64` bounds and always round away from zero; Go returns 0 or
//!   wrapped bits on overflow, and rounds some negative `inf.Dec` values towards +∞.
//! * Exponents are read as `i64` and truncated to `i32` like Go does (`"1e4294967296"`
//!   is 1), but the value is then computed exactly; Go's later `int32` overflows for
//!   exponents near ±2^31 are not replicated.
//! * JSON numbers reach serde as `i64`/`u64` (exact) or `f64` (exact up to 15
//!   significant digits). A float's spelling is not available, so `1e3` unquoted gets
//!   `DecimalSI` where Go would keep `DecimalExponent`; the value is the same.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nano-units in one whole unit.
pub const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Largest magnitude a [`Quantity`] can hold, in nano-units. Parsing and arithmetic
/// saturate at `±MAX_NANOS`.
pub const MAX_NANOS: i128 = i128::MAX;

const NANOS: u128 = 1_000_000_000;
const MAX_NANOS_U: u128 = MAX_NANOS as u128;
/// Go's `ParseQuantity` caps `BinarySI` magnitudes at 2^63-1 units.
const BINARY_SI_CAP_NANOS: u128 = i64::MAX as u128 * NANOS;
/// Suffixes for powers of 1024, indexed by exponent.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// An error from [`Quantity::parse`]; the messages are Kubernetes' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is empty or contains characters outside the quantity syntax
    /// (Go's `ErrFormatWrong`).
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    FormatWrong,
    /// The numeric part has no digits where Kubernetes requires one, e.g. `"Ei"` or
    /// `".e-10"` (Go's `ErrNumeric`).
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is not a known unit or exponent, e.g. `"1i"` or `"1e"` (Go's `ErrSuffix`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// How a quantity is written; kept from parsing and used when formatting.
///
/// The variant order is part of the archived (rkyv) layout: append new variants only.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, Clone, Copy, PartialEq, Eq, Hash))]
pub enum Format {
    /// Powers of ten as an exponent, e.g. `12e6`.
    DecimalExponent,
    /// Powers of 1024, e.g. `12Mi`.
    BinarySI,
    /// Powers of 1000, e.g. `12M` or `500m`.
    DecimalSI,
}

impl Format {
    /// The Go name of the format (`"DecimalExponent"`, `"BinarySI"`, `"DecimalSI"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&ArchivedFormat> for Format {
    fn from(archived: &ArchivedFormat) -> Self {
        match archived {
            ArchivedFormat::DecimalExponent => Format::DecimalExponent,
            ArchivedFormat::BinarySI => Format::BinarySI,
            ArchivedFormat::DecimalSI => Format::DecimalSI,
        }
    }
}

/// An exact Kubernetes resource quantity such as `500m`, `1.5Gi` or `1e3`.
///
/// Equality, ordering and hashing look at the value only, as Go's `Cmp` and `Equal`
/// do: `1Ki == 1024` although the formats differ. The [`Format`] only affects how the
/// quantity is written.
///
/// Arithmetic (`+`, `-`, unary `-`, `+=`, `-=`, [`Sum`]) follows Go's `Add`/`Sub`/`Neg`:
/// the result keeps the left operand's format, except that a zero left operand takes
/// the right operand's format. Results saturate at `±MAX_NANOS`; use
/// [`Quantity::checked_add`] / [`Quantity::checked_sub`] to detect that.
#[derive(Clone, Copy, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Quantity {
    /// The value in nano-units, within `-MAX_NANOS..=MAX_NANOS`.
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Zero, in `DecimalSI` format (what `"0"` parses to).
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: Format::DecimalSI,
    };

    /// Parses a quantity exactly as Kubernetes' `ParseQuantity` does: same accepted
    /// syntax, same rounding up to nano precision, same `BinarySI` cap at 2^63-1 units,
    /// same choice of errors. Whitespace is not trimmed.
    ///
    /// # Errors
    ///
    /// [`QuantityError::FormatWrong`] for an empty string or characters outside the
    /// syntax, [`QuantityError::Suffix`] for an unknown suffix or exponent, and
    /// [`QuantityError::Numeric`] for a number without digits where Go needs one.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        let scanned = scan(s)?;
        let (multiplier, mut format) = interpret_suffix(scanned.suffix)?;
        let frac_len = i64::try_from(scanned.frac.len()).unwrap_or(i64::MAX);
        // Go takes a slower path that rejects a numeric part without digits when the
        // suffix is very small (decimal exponent below -9) or very large (Pi, Ei).
        let (exp10, exp2) = match multiplier {
            Multiplier::Pow10(exp) => {
                if !scanned.has_digits && exp < -9 {
                    return Err(QuantityError::Numeric);
                }
                ((i64::from(exp) - frac_len).saturating_add(9), 0)
            }
            Multiplier::Pow2(exp) => {
                if !scanned.has_digits && exp >= 50 {
                    return Err(QuantityError::Numeric);
                }
                (9 - frac_len, exp)
            }
        };
        let digits: Vec<u8> = scanned
            .int
            .bytes()
            .chain(scanned.frac.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut magnitude =
            scaled_magnitude(&digits, exp10, exp2).map_or(MAX_NANOS_U, |m| m.min(MAX_NANOS_U));
        if format == Format::BinarySI {
            magnitude = magnitude.min(BINARY_SI_CAP_NANOS);
            if magnitude > 0 && magnitude < NANOS {
                // Go: a non-zero binary value below one unit is kept as DecimalSI.
                format = Format::DecimalSI;
            }
        }
        Ok(Quantity {
            nanos: signed(scanned.negative, magnitude),
            format,
        })
    }

    /// `value` whole units (Go's `NewQuantity`).
    pub fn from_int(value: i64, format: Format) -> Quantity {
        Quantity {
            nanos: i128::from(value) * NANOS_PER_UNIT,
            format,
        }
    }

    /// `value` thousandths of a unit (Go's `NewMilliQuantity`).
    pub fn from_milli(value: i64, format: Format) -> Quantity {
        Quantity {
            nanos: i128::from(value) * 1_000_000,
            format,
        }
    }

    /// `value * 10^scale` in `DecimalSI` format (Go's `NewScaledQuantity`). Scales below
    /// -9 round up (away from zero) to the next nano-unit, as parsing does; results
    /// beyond the range saturate.
    pub fn from_scaled(value: i64, scale: i32) -> Quantity {
        let shift = i64::from(scale) + 9;
        let magnitude = u128::from(value.unsigned_abs());
        let nanos = if shift >= 0 {
            mul_pow10_saturating(magnitude, shift.unsigned_abs())
        } else {
            div_pow10_ceil(magnitude, shift.unsigned_abs())
        };
        Quantity {
            nanos: signed(value < 0, nanos.min(MAX_NANOS_U)),
            format: Format::DecimalSI,
        }
    }

    /// `nanos` nano-units, clamped to `±MAX_NANOS`.
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity {
            nanos: nanos.max(-MAX_NANOS),
            format,
        }
    }

    /// The exact value in nano-units.
    pub const fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format used when writing this quantity.
    pub const fn format(&self) -> Format {
        self.format
    }

    /// Changes the format (Go lets callers assign `q.Format`); the value is unchanged.
    pub fn set_format(&mut self, format: Format) {
        self.format = format;
    }

    /// This quantity with another format.
    #[must_use]
    pub const fn with_format(self, format: Format) -> Quantity {
        Quantity {
            nanos: self.nanos,
            format,
        }
    }

    /// Whether the value is zero.
    pub const fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// -1, 0 or 1 according to the sign of the value (Go's `Sign`).
    pub const fn sign(&self) -> i32 {
        if self.nanos > 0 {
            1
        } else if self.nanos < 0 {
            -1
        } else {
            0
        }
    }

    /// Compares the value with `units` whole units (Go's `CmpInt64`).
    pub fn cmp_int64(&self, units: i64) -> Ordering {
        self.nanos.cmp(&(i128::from(units) * NANOS_PER_UNIT))
    }

    /// The value in whole units, rounded up away from zero (Go's `Value`): `1.5` gives 2
    /// and `-1.5` gives -2. Saturates at the `i64` bounds.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The value in thousandths, rounded up away from zero (Go's `MilliValue`).
    /// Saturates at the `i64` bounds.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value divided by `10^scale`, rounded up away from zero (Go's `ScaledValue`;
    /// Go's `resource.Milli` is -3, `resource.Giga` is 9). Saturates at the `i64` bounds.
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let shift = i64::from(scale) + 9;
        let magnitude = self.nanos.unsigned_abs();
        let scaled = if shift >= 0 {
            div_pow10_ceil(magnitude, shift.unsigned_abs())
        } else {
            mul_pow10_saturating(magnitude, shift.unsigned_abs())
        };
        if self.nanos < 0 {
            i64::try_from(-i128::try_from(scaled).unwrap_or(i128::MAX)).unwrap_or(i64::MIN)
        } else {
            i64::try_from(scaled).unwrap_or(i64::MAX)
        }
    }

    /// Rounds the value up, away from zero, to a multiple of `10^scale` (Go's `RoundUp`)
    /// and returns whether it was already exact. Scales of -9 and below change nothing.
    /// A result beyond the range saturates at `±MAX_NANOS`.
    pub fn round_up(&mut self, scale: i32) -> bool {
        let shift = i64::from(scale) + 9;
        if shift <= 0 || self.nanos == 0 {
            return true;
        }
        let magnitude = self.nanos.unsigned_abs();
        let rounded = match ten_pow(shift.unsigned_abs()) {
            Some(unit) => {
                let rest = magnitude % unit;
                if rest == 0 {
                    return true;
                }
                (magnitude - rest).checked_add(unit)
            }
            None => None,
        };
        self.nanos = signed(
            self.nanos < 0,
            rounded.map_or(MAX_NANOS_U, |r| r.min(MAX_NANOS_U)),
        );
        false
    }

    /// `self + rhs` with Go's format rule, or `None` if the sum leaves `±MAX_NANOS`.
    pub fn checked_add(self, rhs: Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_add(rhs.nanos)?;
        (nanos >= -MAX_NANOS).then_some(Quantity {
            nanos,
            format: self.combined_format(rhs),
        })
    }

    /// `self - rhs` with Go's format rule, or `None` if the difference leaves `±MAX_NANOS`.
    pub fn checked_sub(self, rhs: Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_sub(rhs.nanos)?;
        (nanos >= -MAX_NANOS).then_some(Quantity {
            nanos,
            format: self.combined_format(rhs),
        })
    }

    /// The value as a float, possibly rounded (Go's `AsApproximateFloat64`); meant for
    /// scoring and display, never for accounting.
    pub fn as_f64(&self) -> f64 {
        let units = self.nanos / NANOS_PER_UNIT;
        let rest = self.nanos % NANOS_PER_UNIT;
        units as f64 + rest as f64 / 1e9
    }

    /// Go's `Add`/`Sub`: keep the receiver's format unless the receiver is zero.
    fn combined_format(self, rhs: Quantity) -> Format {
        if self.nanos == 0 {
            rhs.format
        } else {
            self.format
        }
    }

    /// The canonical string, as Go's `Quantity.String()` computes it.
    fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".to_owned();
        }
        let (mantissa, suffix) = canonical_parts(self.nanos.unsigned_abs(), self.format);
        let sign = if self.nanos < 0 { "-" } else { "" };
        match suffix {
            CanonicalSuffix::Text(text) => format!("{sign}{mantissa}{text}"),
            CanonicalSuffix::Exponent(0) => format!("{sign}{mantissa}"),
            CanonicalSuffix::Exponent(exp) => format!("{sign}{mantissa}e{exp}"),
        }
    }
}

impl Default for Quantity {
    /// Zero in `DecimalSI` format.
    fn default() -> Self {
        Quantity::ZERO
    }
}

impl fmt::Display for Quantity {
    /// The canonical form, e.g. `1.5Gi` → `1536Mi`, `0.5` → `500m`, `1e3` → `1e3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.canonical())
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quantity")
            .field("canonical", &self.canonical())
            .field("nanos", &self.nanos)
            .field("format", &self.format)
            .finish()
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, rhs: Quantity) {
        self.format = self.combined_format(rhs);
        self.nanos = self.nanos.saturating_add(rhs.nanos).max(-MAX_NANOS);
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, rhs: Quantity) {
        self.format = self.combined_format(rhs);
        self.nanos = self.nanos.saturating_sub(rhs.nanos).max(-MAX_NANOS);
    }
}

impl Add for Quantity {
    type Output = Quantity;

    fn add(mut self, rhs: Quantity) -> Quantity {
        self += rhs;
        self
    }
}

impl Sub for Quantity {
    type Output = Quantity;

    fn sub(mut self, rhs: Quantity) -> Quantity {
        self -= rhs;
        self
    }
}

impl Neg for Quantity {
    type Output = Quantity;

    /// Negates the value and keeps the format (Go's `Neg`).
    fn neg(self) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_neg(),
            format: self.format,
        }
    }
}

impl Sum for Quantity {
    /// Adds up from a zero that takes the first term's format, like a Go loop over `Add`.
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, |acc, q| acc + q)
    }
}

impl<'a> Sum<&'a Quantity> for Quantity {
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Quantity {
        iter.copied().sum()
    }
}

impl Serialize for Quantity {
    /// Serialises as the canonical string, like Go's `MarshalJSON`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts a string (trimmed, then parsed) or a number, like Go's `UnmarshalJSON`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity as a string (such as \"500m\" or \"1Gi\") or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        Quantity::parse(v.trim()).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Quantity, E> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::invalid_value(Unexpected::Bytes(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Ok(Quantity::from_int(v, Format::DecimalSI))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Ok(Quantity::from_nanos(
            i128::from(v) * NANOS_PER_UNIT,
            Format::DecimalSI,
        ))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Quantity, E> {
        let nanos =
            v.checked_mul(NANOS_PER_UNIT)
                .unwrap_or(if v < 0 { -MAX_NANOS } else { MAX_NANOS });
        Ok(Quantity::from_nanos(nanos, Format::DecimalSI))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Quantity, E> {
        let nanos = v.saturating_mul(NANOS).min(MAX_NANOS_U);
        Ok(Quantity::from_nanos(
            signed(false, nanos),
            Format::DecimalSI,
        ))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::invalid_value(Unexpected::Float(v), &self));
        }
        // `{:e}` is the shortest decimal that reads back as `v`, e.g. 0.5 → "5e-1".
        Quantity::parse(&format!("{v:e}"))
            .map(|q| q.with_format(Format::DecimalSI))
            .map_err(E::custom)
    }
}

impl ArchivedQuantity {
    /// The exact value in nano-units, read in place.
    pub fn nanos(&self) -> i128 {
        self.nanos.to_native()
    }

    /// The stored format.
    pub fn format(&self) -> Format {
        Format::from(&self.format)
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos() == 0
    }

    /// The quantity as a native value, without going through rkyv deserialisation.
    pub fn to_quantity(&self) -> Quantity {
        Quantity::from_nanos(self.nanos(), self.format())
    }
}

impl From<&ArchivedQuantity> for Quantity {
    fn from(archived: &ArchivedQuantity) -> Self {
        archived.to_quantity()
    }
}

impl fmt::Display for ArchivedQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_quantity(), f)
    }
}

impl PartialEq for ArchivedQuantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos() == other.nanos()
    }
}

impl Eq for ArchivedQuantity {}

impl PartialOrd for ArchivedQuantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ArchivedQuantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos().cmp(&other.nanos())
    }
}

impl Hash for ArchivedQuantity {
    /// Hashes like [`Quantity`], so both agree for the same value.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos().hash(state);
    }
}

impl PartialEq<Quantity> for ArchivedQuantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos() == other.nanos
    }
}

impl PartialEq<ArchivedQuantity> for Quantity {
    fn eq(&self, other: &ArchivedQuantity) -> bool {
        self.nanos == other.nanos()
    }
}

/// The pieces of a quantity string found by [`scan`].
struct Scanned<'a> {
    negative: bool,
    /// Integer digits without leading zeros (may be empty).
    int: &'a str,
    /// Fraction digits (may be empty).
    frac: &'a str,
    /// Everything after the number: suffix letters, optional sign, digits.
    suffix: &'a str,
    /// Whether the number part contains a digit (Go's `inf.Dec` needs one).
    has_digits: bool,
}

/// Splits a quantity into sign, digits and suffix, accepting exactly what Go's
/// `parseQuantityString` accepts.
fn scan(s: &str) -> Result<Scanned<'_>, QuantityError> {
    let bytes = s.as_bytes();
    let end = bytes.len();
    let (negative, mut pos) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let sign_len = pos;
    while pos < end && bytes[pos] == b'0' {
        pos += 1;
    }
    let mut scanned = Scanned {
        negative,
        int: "",
        frac: "",
        suffix: "",
        // Go treats a sign alone, or zeros alone, as the number "0".
        has_digits: pos > sign_len || pos == end,
    };
    if pos == end {
        return Ok(scanned);
    }
    let int_start = pos;
    while pos < end && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    scanned.int = &s[int_start..pos];
    scanned.has_digits |= !scanned.int.is_empty();
    if pos == end {
        return Ok(scanned);
    }
    if bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < end && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        scanned.frac = &s[frac_start..pos];
        scanned.has_digits |= !scanned.frac.is_empty();
        if pos == end {
            return Ok(scanned);
        }
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < end && matches!(bytes[pos], b'+' | b'-') {
        pos += 1;
    }
    while pos < end && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != end {
        return Err(QuantityError::FormatWrong);
    }
    scanned.suffix = &s[suffix_start..];
    Ok(scanned)
}

/// What a suffix multiplies the number by.
enum Multiplier {
    Pow10(i32),
    Pow2(u32),
}

/// Interprets a suffix as Go's `quantitySuffixer.interpret` does.
fn interpret_suffix(suffix: &str) -> Result<(Multiplier, Format), QuantityError> {
    let decimal = |exp| Ok((Multiplier::Pow10(exp), Format::DecimalSI));
    let binary = |exp| Ok((Multiplier::Pow2(exp), Format::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exponent = suffix
                .strip_prefix(['e', 'E'])
                .filter(|rest| !rest.is_empty())
                .ok_or(QuantityError::Suffix)?;
            // Go: strconv.ParseInt(rest, 10, 64), then int32(parsed), which truncates.
            let parsed: i64 = exponent.parse().map_err(|_| QuantityError::Suffix)?;
            Ok((Multiplier::Pow10(parsed as i32), Format::DecimalExponent))
        }
    }
}

/// `ceil(digits * 2^pow2 * 10^pow10)`, or `None` if that exceeds `u128`.
///
/// `digits` are decimal digit values (0-9), most significant first.
fn scaled_magnitude(digits: &[u8], pow10: i64, pow2: u32) -> Option<u128> {
    let Some(first) = digits.iter().position(|&d| d != 0) else {
        return Some(0);
    };
    let mut digits = &digits[first..];
    let mut pow10 = pow10;
    while let [rest @ .., 0] = digits {
        digits = rest;
        pow10 = pow10.saturating_add(1);
    }
    let factor = 1u128 << pow2;
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    if pow10 >= 0 {
        // digits >= 10^(len-1), so the result is at least 10^(len-1+pow10).
        if len.saturating_add(pow10) > 40 {
            return None;
        }
        let scale = ten_pow(pow10.unsigned_abs())?;
        return digits_to_u128(digits)?
            .checked_mul(scale)?
            .checked_mul(factor);
    }
    // Split into the whole nano-units and the fraction below them.
    let below = pow10.unsigned_abs();
    let (whole, frac, mut zeros) = match usize::try_from(below) {
        Ok(k) if k < digits.len() => {
            let (whole, frac) = digits.split_at(digits.len() - k);
            (whole, frac, 0)
        }
        _ => (&digits[..0], digits, below - digits.len() as u64),
    };
    if whole.len() > 40 {
        return None;
    }
    // Multiply the fraction 0.[zeros][frac] by `factor` from its last digit up: the
    // final carry is the whole part, any non-zero product digit means a remainder.
    let mut carry = 0u128;
    let mut inexact = false;
    for &d in frac.iter().rev() {
        let t = u128::from(d) * factor + carry;
        inexact |= !t.is_multiple_of(10);
        carry = t / 10;
    }
    while zeros > 0 && carry > 0 {
        inexact |= !carry.is_multiple_of(10);
        carry /= 10;
        zeros -= 1;
    }
    digits_to_u128(whole)?
        .checked_mul(factor)?
        .checked_add(carry)?
        .checked_add(u128::from(inexact))
}

fn digits_to_u128(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u128::from(d))
    })
}

/// `10^exp`, or `None` beyond `u128`.
fn ten_pow(exp: u64) -> Option<u128> {
    10u128.checked_pow(u32::try_from(exp).ok()?)
}

/// `ceil(magnitude / 10^exp)`.
fn div_pow10_ceil(magnitude: u128, exp: u64) -> u128 {
    match ten_pow(exp) {
        Some(divisor) => magnitude / divisor + u128::from(!magnitude.is_multiple_of(divisor)),
        None => u128::from(magnitude != 0),
    }
}

/// `magnitude * 10^exp`, saturating at `u128::MAX`.
fn mul_pow10_saturating(magnitude: u128, exp: u64) -> u128 {
    if magnitude == 0 {
        return 0;
    }
    ten_pow(exp).map_or(u128::MAX, |scale| magnitude.saturating_mul(scale))
}

/// A nano count with the given sign; `magnitude` must not exceed `MAX_NANOS`.
fn signed(negative: bool, magnitude: u128) -> i128 {
    let value = i128::try_from(magnitude).unwrap_or(MAX_NANOS);
    if negative { -value } else { value }
}

/// The suffix of a canonical string.
enum CanonicalSuffix {
    Text(&'static str),
    /// `e<exp>`, omitted when zero.
    Exponent(i32),
}

/// Mantissa and suffix of a non-zero magnitude in the given format (Go's
/// `CanonicalizeBytes`).
fn canonical_parts(magnitude: u128, format: Format) -> (u128, CanonicalSuffix) {
    if format == Format::BinarySI && magnitude >= 1024 * NANOS && magnitude.is_multiple_of(NANOS) {
        let mut mantissa = magnitude / NANOS;
        let mut exp = 0;
        while mantissa.is_multiple_of(1024) {
            mantissa /= 1024;
            exp += 1;
        }
        if let Some(&text) = BINARY_SUFFIXES.get(exp) {
            return (mantissa, CanonicalSuffix::Text(text));
        }
        // Beyond Ei: exponent notation, as upstream Kubernetes does.
        let (mantissa, exp) = decimal_mantissa(magnitude);
        return (mantissa, CanonicalSuffix::Exponent(exp));
    }
    // BinarySI below 1024 or with a fraction is shown as DecimalSI.
    let (mantissa, exp) = decimal_mantissa(magnitude);
    let suffix = match format {
        Format::DecimalExponent => CanonicalSuffix::Exponent(exp),
        Format::BinarySI | Format::DecimalSI => {
            decimal_si_suffix(exp).map_or(CanonicalSuffix::Exponent(exp), CanonicalSuffix::Text)
        }
    };
    (mantissa, suffix)
}

/// Splits a non-zero nano magnitude into `mantissa * 10^exp` with `exp` the largest
/// multiple of three that keeps the mantissa whole.
fn decimal_mantissa(magnitude: u128) -> (u128, i32) {
    let mut mantissa = magnitude;
    let mut exp: i32 = -9;
    while mantissa != 0 && mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exp += 1;
    }
    // Round the exponent down to a multiple of three; the factors of ten put back
    // were removed above, so this cannot overflow.
    let extra = exp.rem_euclid(3);
    mantissa *= 10u128.pow(extra.unsigned_abs());
    (mantissa, exp - extra)
}

fn decimal_si_suffix(exp: i32) -> Option<&'static str> {
    Some(match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    const N: i128 = NANOS_PER_UNIT;
    const KI: i128 = 1024;
    const CAP: i128 = i64::MAX as i128 * N;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    /// Parses `input`, checks its canonical form, and checks that the canonical form is
    /// a fixed point, the same value, the same JSON, and behaves under explicit signs.
    #[track_caller]
    fn check(input: &str, expected: &str) {
        let parsed = q(input);
        assert_eq!(parsed.to_string(), expected, "canonical form of {input:?}");
        let again = q(expected);
        assert_eq!(again, parsed, "{expected:?} is not the value of {input:?}");
        assert_eq!(
            again.to_string(),
            expected,
            "{expected:?} is not a fixed point"
        );
        let json = serde_json::to_string(&parsed).expect("serialise");
        assert_eq!(json, format!("\"{expected}\""), "JSON of {input:?}");
        if !input.starts_with(['+', '-']) {
            assert_eq!(q(&format!("+{input}")).to_string(), expected, "+{input}");
            let negative = if expected == "0" {
                "0".to_owned()
            } else {
                format!("-{expected}")
            };
            assert_eq!(q(&format!("-{input}")).to_string(), negative, "-{input}");
        }
    }

    /// Checks the exact value and format `input` parses to, also with a minus sign.
    #[track_caller]
    fn check_value(input: &str, nanos: i128, format: Format) {
        let parsed = q(input);
        assert_eq!(
            (parsed.nanos(), parsed.format()),
            (nanos, format),
            "{input:?}"
        );
        let negated = q(&format!("-{input}"));
        assert_eq!(
            (negated.nanos(), negated.format()),
            (-nanos, format),
            "-{input}"
        );
    }

    #[test]
    fn canonical_forms_from_the_kubernetes_parse_table() {
        for (input, expected) in [
            ("0", "0"),
            ("0n", "0"),
            ("0u", "0"),
            ("0m", "0"),
            ("0Ki", "0"),
            ("0k", "0"),
            ("0Mi", "0"),
            ("0M", "0"),
            ("0Gi", "0"),
            ("0G", "0"),
            ("0Ti", "0"),
            ("0T", "0"),
            ("1", "1"),
            ("1Ki", "1Ki"),
            ("8Ki", "8Ki"),
            ("7Mi", "7Mi"),
            ("6Gi", "6Gi"),
            ("5Ti", "5Ti"),
            ("4Pi", "4Pi"),
            ("3Ei", "3Ei"),
            ("10Ti", "10Ti"),
            ("100Ti", "100Ti"),
            ("5n", "5n"),
            ("4u", "4u"),
            ("3m", "3m"),
            ("9", "9"),
            ("8k", "8k"),
            ("50k", "50k"),
            ("7M", "7M"),
            ("6G", "6G"),
            ("5T", "5T"),
            ("40T", "40T"),
            ("300T", "300T"),
            ("2P", "2P"),
            ("1E", "1E"),
            ("1E-3", "1e-3"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("1e9", "1e9"),
            ("1E12", "1e12"),
            ("1e15", "1e15"),
            ("1E18", "1e18"),
            ("1e14", "100e12"),
            ("1e13", "10e12"),
            ("100.035k", "100035"),
            ("0.001", "1m"),
            ("0.0005k", "500m"),
            ("0.005", "5m"),
            ("0.05", "50m"),
            ("0.5", "500m"),
            ("0.00050k", "500m"),
            ("0.00500", "5m"),
            ("0.05000", "50m"),
            ("0.50000", "500m"),
            ("0.5e0", "500e-3"),
            ("0.5e-1", "50e-3"),
            ("0.5e-2", "5e-3"),
            ("10.035M", "10035k"),
            ("1.2e3", "1200"),
            ("1.3E+6", "1300e3"),
            ("1.40e9", "1400e6"),
            ("1.53E12", "1530e9"),
            ("1.6e15", "1600e12"),
            ("1.7E18", "1700e15"),
            ("9.01", "9010m"),
            ("8.1k", "8100"),
            ("7.123456M", "7123456"),
            ("6.987654321G", "6987654321"),
            ("5.444T", "5444G"),
            ("40.1T", "40100G"),
            ("300.2T", "300200G"),
            ("2.5P", "2500T"),
            ("1.01E", "1010P"),
            ("3.001n", "4n"),
            ("1.1E-9", "2e-9"),
            ("0.0000000001", "1n"),
            ("0.0000000005", "1n"),
            ("0.00000000050", "1n"),
            ("0.5e-9", "1e-9"),
            ("0.9n", "1n"),
            ("0.00000012345", "124n"),
            ("0.00000012354", "124n"),
            ("9Ei", "9223372036854775807"),
            ("9223372036854775807Ki", "9223372036854775807"),
            ("12E", "12E"),
            ("100.035Ki", "102435840m"),
            ("0.5Mi", "512Ki"),
            ("0.05Gi", "53687091200m"),
            ("0.025Ti", "27487790694400m"),
            ("0.000000000001Ki", "2n"),
            (".001", "1m"),
            (".0001k", "100m"),
            ("1.", "1"),
            ("1.G", "1G"),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn canonical_forms_from_the_kubernetes_string_and_emit_tables() {
        for (input, expected) in [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("300Mi", "300Mi"),
            ("307200Ki", "300Mi"),
            ("6Ki", "6Ki"),
            ("1001Gi", "1001Gi"),
            ("1025024Mi", "1001Gi"),
            ("1Ti", "1Ti"),
            ("1024Gi", "1Ti"),
            ("5000m", "5"),
            ("1G", "1G"),
            ("1000M", "1G"),
            ("0.001T", "1G"),
            ("1m", "1m"),
            ("1000u", "1m"),
            ("80m", "80m"),
            ("1080m", "1080m"),
            ("1.08", "1080m"),
            ("1080000000n", "1080m"),
            ("300M", "300M"),
            ("1T", "1T"),
            ("1234567M", "1234567M"),
            ("1234567m", "1234567m"),
            ("3k", "3k"),
            ("1025", "1025"),
            ("1e9", "1e9"),
            (".001e12", "1e9"),
            ("1e-3", "1e-3"),
            ("0.001e0", "1e-3"),
            ("1e-9", "1e-9"),
            ("1000e-12", "1e-9"),
            ("80e-3", "80e-3"),
            ("300e6", "300e6"),
            ("1e12", "1e12"),
            ("3e3", "3e3"),
            ("00", "0"),
            ("1n", "1n"),
            ("80n", "80n"),
            ("1080n", "1080n"),
            ("1u", "1u"),
            ("80u", "80u"),
            ("1080u", "1080u"),
            ("1Mi", "1Mi"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
            // Examples from the Go documentation and ExampleFormat.
            ("1000m", "1"),
            ("1.5", "1500m"),
            ("1.5Gi", "1536Mi"),
            ("100M", "100M"),
            ("5Gi", "5Gi"),
            ("5G", "5G"),
            ("5300m", "5300m"),
            ("5.4", "5400m"),
        ] {
            check(input, expected);
        }
    }

    #[test]
    fn canonical_forms_beyond_int64() {
        // Decimal values are not capped by Kubernetes (its TestParseQuantity table).
        for (input, expected) in [
            ("999999999999999999", "999999999999999999"),
            ("999999999999999999.0", "999999999999999999"),
            ("999999999999999999.1", "999999999999999999100m"),
            ("9999999999999999999", "9999999999999999999"),
            ("1000000000000000000", "1E"),
            ("1.0E", "1E"),
            ("1000000000000000000.0", "1E"),
            ("9999999999999999999000m", "9999999999999999999"),
            ("9999999999999999999.1", "9999999999999999999100m"),
            ("1.0000000000000000001E", "1000000000000000000100m"),
            ("1000000000000000000.1", "1000000000000000000100m"),
            ("1.000000000000000001E", "1000000000000000001"),
            ("1000000000000000001", "1000000000000000001"),
            ("10E", "10E"),
            ("10000000000000000000", "10E"),
            ("10.0E", "10E"),
            ("10000000000000000000000m", "10E"),
            ("10.0000000000000000001E", "10000000000000000000100m"),
            ("10.000000000000000001E", "10000000000000000001"),
            ("9223372036854775806", "9223372036854775806"),
            ("9223372036854775807", "9223372036854775807"),
            ("9223372036854775807.0", "9223372036854775807"),
            ("9223372036854775807000m", "9223372036854775807"),
            ("9223372036854775807.1", "9223372036854775807100m"),
            ("9223372036854775808", "9223372036854775808"),
            ("9223372036854775808.1", "9223372036854775808100m"),
            ("9223372036854775809", "9223372036854775809"),
            // Past the E suffix: exponent notation (upstream fix #140459).
            ("1000E", "1e21"),
            ("5000E", "5e21"),
            ("1000000E", "1e24"),
            ("1e21", "1e21"),
            ("1234e21", "1234e21"),
            (
                "99999999999999999999999999999",
                "99999999999999999999999999999",
            ),
            // Saturation at MAX_NANOS.
            ("1e30", "170141183460469231731687303715884105727e-9"),
            ("1e999", "170141183460469231731687303715884105727e-9"),
            (
                "1000000000000000000000000000000",
                "170141183460469231731687303715884105727n",
            ),
            (
                "1000000000000000P",
                "170141183460469231731687303715884105727n",
            ),
            ("100000000000000P", "100e27"),
            (
                "1000000000000000000000000000000000000000000000000000Ei",
                "9223372036854775807",
            ),
        ] {
            check(input, expected);
        }
        assert_eq!(q("-1e30").nanos(), -MAX_NANOS);
        assert_eq!(q("1e30").format(), Format::DecimalExponent);
    }

    #[test]
    fn canonical_forms_binary_si() {
        for (input, expected) in [
            ("1023", "1023"),
            ("1024", "1024"),
            ("1024.0Ki", "1Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("1.1Ki", "1126400m"),
            ("2048Ki", "2Mi"),
            ("1536Ki", "1536Ki"),
            ("1048576Ki", "1Gi"),
            ("1024Pi", "1Ei"),
            ("7.5Ei", "7680Pi"),
            ("1.0Ki", "1Ki"),
            ("1.Ki", "1Ki"),
            ("01Ki", "1Ki"),
            ("0.0001Ki", "102400u"),
        ] {
            check(input, expected);
        }
        // Binary quantities from arithmetic are not capped (Go's inf.Dec path keeps them):
        // 2^63 still prints as 8Ei; 2^70 is past Ei and uses exponent notation.
        // Go prints BinarySI 2000 as "2000" (no binary suffix fits), and "2000" parses
        // as DecimalSI, which prints "2k".
        let two_thousand = Quantity::from_int(2000, Format::BinarySI);
        assert_eq!(two_thousand.to_string(), "2000");
        assert_eq!(q(&two_thousand.to_string()).to_string(), "2k");
        let eight_ei = q("4Ei") + q("4Ei");
        assert_eq!(eight_ei.to_string(), "8Ei");
        assert_eq!(q("8Ei").nanos(), CAP, "parsing 8Ei caps at 2^63-1");
        let two_pow_70 = Quantity::from_nanos((1i128 << 70) * N, Format::BinarySI);
        assert_eq!(two_pow_70.to_string(), "1180591620717411303424");
        let with_zeros = Quantity::from_nanos((1i128 << 70) * 125 * N, Format::BinarySI);
        assert_eq!(with_zeros.to_string(), "147573952589676412928e3");
    }

    #[test]
    fn canonical_forms_of_go_quirks() {
        for (input, expected) in [
            // A sign, a dot, or a bare suffix are all zero in Go.
            ("+", "0"),
            ("-", "0"),
            (".", "0"),
            ("-.", "0"),
            ("Ki", "0"),
            ("Ti", "0"),
            ("m", "0"),
            ("E", "0"),
            ("e5", "0"),
            (".e-9", "0"),
            ("-0", "0"),
            ("-0.0Ki", "0"),
            ("000000000000000000000000000000000000000000001", "1"),
            ("1e+3", "1e3"),
            ("1e-0", "1"),
            ("1e0", "1"),
            ("1e03", "1e3"),
            // Go truncates the parsed exponent to int32: 2^32 becomes 0.
            ("1e4294967296", "1"),
            ("1e4294967299", "1e3"),
            ("1e9223372036854775807", "100e-3"),
            // Go's String() echoes these inputs verbatim (cached string); Clipper
            // canonicalises them (kubernetes/kubernetes#138165).
            ("+1", "1"),
            ("01", "1"),
            ("1.001", "1001m"),
            ("1.250", "1250m"),
            ("1.234k", "1234"),
            ("12.345m", "12345u"),
        ] {
            check(input, expected);
        }
        assert_eq!(q("e5").format(), Format::DecimalExponent);
        assert_eq!(q("Ki").format(), Format::BinarySI);
        assert_eq!(q("1e4294967296").format(), Format::DecimalExponent);
    }

    #[test]
    fn parsed_values_and_formats() {
        use Format::*;
        for (input, nanos, format) in [
            ("0", 0, DecimalSI),
            ("0Ki", 0, BinarySI),
            ("0e3", 0, DecimalExponent),
            ("1", N, DecimalSI),
            ("1Ki", KI * N, BinarySI),
            ("7Mi", 7 * KI.pow(2) * N, BinarySI),
            ("3Ei", 3 * KI.pow(6) * N, BinarySI),
            ("100Ti", 100 * KI.pow(4) * N, BinarySI),
            ("5n", 5, DecimalSI),
            ("4u", 4_000, DecimalSI),
            ("3m", 3_000_000, DecimalSI),
            ("50k", 50_000 * N, DecimalSI),
            ("1E", 10i128.pow(18) * N, DecimalSI),
            ("12E", 12 * 10i128.pow(18) * N, DecimalSI),
            ("1E-3", 1_000_000, DecimalExponent),
            ("1e3", 1_000 * N, DecimalExponent),
            ("1.3E+6", 1_300_000 * N, DecimalExponent),
            ("0.5e-2", 5_000_000, DecimalExponent),
            ("0.0005k", N / 2, DecimalSI),
            ("7.123456M", 7_123_456 * N, DecimalSI),
            ("3.001n", 4, DecimalSI),
            ("1.1E-9", 2, DecimalExponent),
            ("0.00000012354", 124, DecimalSI),
            ("9Ei", CAP, BinarySI),
            ("9223372036854775807Ki", CAP, BinarySI),
            ("100.035Ki", 102_435_840_000_000, BinarySI),
            ("0.5Mi", 512 * KI * N, BinarySI),
            ("0.025Ti", 27_487_790_694_400_000_000, BinarySI),
            ("0.000000000001Ki", 2, DecimalSI),
            (".001Ki", 1_024_000_000, BinarySI),
            (".000001Ki", 1_024_000, DecimalSI),
            ("1.G", N * N, DecimalSI),
            (
                "1.0000000000000000000000000001Ki",
                1_024_000_000_001,
                BinarySI,
            ),
            ("1e-1000000", 1, DecimalExponent),
            (
                "123456789012345678901234567890e-30",
                123_456_790,
                DecimalExponent,
            ),
        ] {
            check_value(input, nanos, format);
        }
    }

    #[test]
    fn parse_errors_match_kubernetes() {
        use QuantityError::*;
        for (input, error) in [
            ("", FormatWrong),
            ("1.1.M", FormatWrong),
            ("1+1.0M", FormatWrong),
            ("0.1mi", Suffix),
            ("0.1am", FormatWrong),
            ("aoeu", FormatWrong),
            (".5i", Suffix),
            ("1i", Suffix),
            ("-3.01i", Suffix),
            ("-3.01e-", Suffix),
            (" 1", FormatWrong),
            ("1 ", FormatWrong),
            ("\t1", FormatWrong),
            ("Non-Numeric", FormatWrong),
            ("invalid", FormatWrong),
            ("1e", Suffix),
            ("1e+", Suffix),
            ("1ee5", Suffix),
            ("1Ki5", Suffix),
            ("1KiB", FormatWrong),
            ("1mE3", Suffix),
            ("1e5m", FormatWrong),
            ("5EE", Suffix),
            ("1e99999999999999999999", Suffix),
            ("+-1", Suffix),
            ("--1", Suffix),
            ("1-1", Suffix),
            ("0x10", FormatWrong),
            ("1,5", FormatWrong),
            ("1_000", FormatWrong),
            ("１", FormatWrong),
            ("1µ", FormatWrong),
            ("Ei", Numeric),
            ("-Pi", Numeric),
            (".Ei", Numeric),
            (".e-10", Numeric),
            ("-e-10", Numeric),
        ] {
            assert_eq!(Quantity::parse(input), Err(error), "{input:?}");
        }
    }

    #[test]
    fn error_messages_are_kubernetes_messages() {
        assert_eq!(
            QuantityError::FormatWrong.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            QuantityError::Numeric.to_string(),
            "unable to parse numeric part of quantity"
        );
        assert_eq!(
            QuantityError::Suffix.to_string(),
            "unable to parse quantity's suffix"
        );
    }

    #[test]
    fn from_str_is_parse() {
        assert_eq!("1.5Gi".parse::<Quantity>(), Ok(q("1536Mi")));
        assert_eq!("1 ".parse::<Quantity>(), Err(QuantityError::FormatWrong));
    }

    #[test]
    fn constructors_match_go_new_functions() {
        use Format::*;
        // TestNewSet.
        for (value, format, expected) in [
            (1, DecimalSI, "1"),
            (1000, DecimalSI, "1k"),
            (1_234_000, DecimalSI, "1234k"),
            (1024, BinarySI, "1Ki"),
            (1_000_000, DecimalExponent, "1e6"),
            (1024 * 1024, BinarySI, "1Mi"),
            (5 * 1024 * 1024 * 1024, BinarySI, "5Gi"),
            (5_000_000_000, DecimalSI, "5G"),
            (-1024, BinarySI, "-1Ki"),
        ] {
            let made = Quantity::from_int(value, format);
            assert_eq!(made.to_string(), expected, "from_int({value}, {format})");
            assert_eq!(q(expected).value(), value);
        }
        // TestMilliNewSet.
        for (value, format, expected) in [
            (1, DecimalSI, "1m"),
            (1000, DecimalSI, "1"),
            (1_234_000, DecimalSI, "1234"),
            (1024, BinarySI, "1024m"),
            (1_000_000, DecimalExponent, "1e3"),
            (1024 * 1024, BinarySI, "1048576m"),
            (5300, DecimalSI, "5300m"),
        ] {
            let made = Quantity::from_milli(value, format);
            assert_eq!(made.to_string(), expected, "from_milli({value}, {format})");
            assert_eq!(q(expected).milli_value(), value);
        }
        // TestNewScaledSet.
        for (value, scale, expected) in [
            (1, -9, "1n"),
            (1000, -9, "1u"),
            (1, -6, "1u"),
            (1000, -6, "1m"),
            (1, -3, "1m"),
            (1000, -3, "1"),
            (1, 0, "1"),
            (0, -9, "0"),
            (0, -6, "0"),
            (0, -3, "0"),
            (0, 0, "0"),
            (7, 18, "7E"),
            (7, 21, "7e21"),
            (1, -12, "1n"),
            (-1, -12, "-1n"),
            (1501, -12, "2n"),
        ] {
            let made = Quantity::from_scaled(value, scale);
            assert_eq!(made.to_string(), expected, "from_scaled({value}, {scale})");
            assert_eq!(made.format(), Format::DecimalSI);
            if scale >= -9 {
                assert_eq!(q(expected).scaled_value(scale), value);
            }
        }
        assert_eq!(Quantity::from_scaled(i64::MAX, 100).nanos(), MAX_NANOS);
        assert_eq!(Quantity::from_scaled(i64::MIN, 100).nanos(), -MAX_NANOS);
        assert_eq!(
            Quantity::from_nanos(i128::MIN, Format::DecimalSI).nanos(),
            -MAX_NANOS
        );
        assert_eq!(Quantity::default(), Quantity::ZERO);
        assert_eq!(Quantity::default().format(), Format::DecimalSI);
    }

    #[test]
    fn scaled_value_matches_kubernetes() {
        // TestScaledValue: from_scaled(1, from).scaled_value(to).
        for (from, to, expected) in [
            (-9, -9, 1),
            (-9, -6, 1),
            (-9, -3, 1),
            (-9, 0, 1),
            (-6, -9, 1000),
            (-6, -6, 1),
            (-6, -3, 1),
            (-6, 0, 1),
            (-3, -9, 1_000_000),
            (-3, -6, 1000),
            (-3, -3, 1),
            (-3, 0, 1),
            (0, -9, 1_000_000_000),
            (0, -6, 1_000_000),
            (0, -3, 1000),
            (0, 0, 1),
            (2, -2, 10_000),
        ] {
            assert_eq!(
                Quantity::from_scaled(1, from).scaled_value(to),
                expected,
                "{from} -> {to}"
            );
        }
        assert_eq!(q("5Gi").scaled_value(9), 6);
        assert_eq!(q("-5Gi").scaled_value(9), -6);
        assert_eq!(q("1n").scaled_value(100), 1);
        assert_eq!(q("1").scaled_value(-100), i64::MAX);
        assert_eq!(q("0").scaled_value(-100), 0);
    }

    #[test]
    fn value_and_milli_value_round_away_from_zero() {
        for (input, value, milli) in [
            ("0", 0, 0),
            ("1", 1, 1000),
            ("1.5", 2, 1500),
            ("-1.5", -2, -1500),
            ("1n", 1, 1),
            ("-1n", -1, -1),
            ("0.0000000001", 1, 1),
            ("-0.0000000001", -1, -1),
            ("1.0005", 2, 1001),
            ("5Gi", 5 * 1024 * 1024 * 1024, 5 * 1024 * 1024 * 1024 * 1000),
            ("5300m", 6, 5300),
            ("5.4", 6, 5400),
            ("1E", 1_000_000_000_000_000_000, i64::MAX),
            ("-1E", -1_000_000_000_000_000_000, i64::MIN),
            ("9223372036854775807", i64::MAX, i64::MAX),
            ("10E", i64::MAX, i64::MAX),
            ("-10E", i64::MIN, i64::MIN),
            ("9Ei", i64::MAX, i64::MAX),
        ] {
            let parsed = q(input);
            assert_eq!(parsed.value(), value, "value of {input}");
            assert_eq!(parsed.milli_value(), milli, "milli value of {input}");
        }
    }

    #[test]
    fn round_up_matches_kubernetes() {
        // TestQuantityRoundUp.
        for (input, scale, expected, exact) in [
            ("9.01", -3, "9010m", true),
            ("9.01", -2, "9010m", true),
            ("9.01", -1, "9100m", false),
            ("9.01", 0, "10", false),
            ("9.01", 1, "10", false),
            ("9.01", 2, "100", false),
            ("-9.01", -3, "-9010m", true),
            ("-9.01", -2, "-9010m", true),
            ("-9.01", -1, "-9100m", false),
            ("-9.01", 0, "-10", false),
            ("-9.01", 1, "-10", false),
            ("-9.01", 2, "-100", false),
            ("1n", -9, "1n", true),
            ("1n", -12, "1n", true),
            ("0", 5, "0", true),
            ("1n", 40, "170141183460469231731687303715884105727n", false),
        ] {
            let mut rounded = q(input);
            assert_eq!(rounded.round_up(scale), exact, "{input} at {scale}");
            assert_eq!(rounded.to_string(), expected, "{input} at {scale}");
            assert_eq!(rounded.format(), q(input).format());
        }
    }

    #[test]
    fn add_and_sub_match_kubernetes() {
        use Format::*;
        let dec = |units: i128, format| Quantity::from_nanos(units * N, format);
        // TestAdd / TestSub: (a, b, a+b, a-b).
        for (a, b, sum, difference) in [
            (
                dec(10, DecimalSI),
                dec(10, DecimalSI),
                dec(20, DecimalSI),
                dec(0, DecimalSI),
            ),
            (
                dec(10, DecimalSI),
                dec(1, BinarySI),
                dec(11, DecimalSI),
                dec(9, DecimalSI),
            ),
            (
                dec(10, BinarySI),
                dec(1, DecimalSI),
                dec(11, BinarySI),
                dec(9, BinarySI),
            ),
            (
                dec(0, DecimalSI),
                dec(50, DecimalSI),
                dec(50, DecimalSI),
                dec(-50, DecimalSI),
            ),
            (
                dec(50, DecimalSI),
                dec(0, DecimalSI),
                dec(50, DecimalSI),
                dec(50, DecimalSI),
            ),
            (
                dec(0, DecimalSI),
                dec(0, DecimalSI),
                dec(0, DecimalSI),
                dec(0, DecimalSI),
            ),
            (
                dec(0, DecimalSI),
                dec(1024, BinarySI),
                dec(1024, BinarySI),
                dec(-1024, BinarySI),
            ),
        ] {
            let added = a + b;
            assert_eq!((added, added.format()), (sum, sum.format()), "{a} + {b}");
            let subtracted = a - b;
            assert_eq!(
                (subtracted, subtracted.format()),
                (difference, difference.format()),
                "{a} - {b}"
            );
            let mut in_place = a;
            in_place += b;
            assert_eq!((in_place, in_place.format()), (sum, sum.format()));
            in_place = a;
            in_place -= b;
            assert_eq!(
                (in_place, in_place.format()),
                (difference, difference.format())
            );
        }
        assert_eq!((q("1.5") + q("500m")).to_string(), "2");
        assert_eq!((q("1Gi") - q("512Mi")).to_string(), "512Mi");
        assert_eq!((q("1Gi") - q("1.5Gi")).to_string(), "-512Mi");
        assert_eq!((q("100m") + q("1Ki")).to_string(), "1024100m");
    }

    #[test]
    fn zero_operands_preserve_suffix() {
        // TestQuantityAddZeroPreservesSuffix / TestQuantitySubZeroPreservesSuffix.
        for text in ["100m", "1Gi"] {
            let value = q(text);
            let zero = q("0");
            assert_eq!((value + zero).to_string(), text);
            assert_eq!((zero + value).to_string(), text);
            assert_eq!((value - zero).to_string(), text);
            assert_eq!((zero - value).to_string(), (-value).to_string());
        }
        // The receiver's format wins once it is non-zero, even if the sum is zero.
        let back_to_zero = q("1Gi") - q("1Gi");
        assert!(back_to_zero.is_zero());
        assert_eq!(back_to_zero.format(), Format::BinarySI);
    }

    #[test]
    fn neg_keeps_format() {
        // TestQuantityNeg / TestNeg.
        assert_eq!((-q("9.01")).to_string(), "-9010m");
        assert_eq!((-q("0")).to_string(), "0");
        let ten = Quantity::from_int(10, Format::BinarySI);
        assert_eq!(-ten, Quantity::from_int(-10, Format::BinarySI));
        assert_eq!((-ten).format(), Format::BinarySI);
        assert_eq!(-(-ten), ten);
        assert_eq!((-q("1Gi")).to_string(), "-1Gi");
    }

    #[test]
    fn arithmetic_saturates() {
        let max = Quantity::from_nanos(MAX_NANOS, Format::DecimalSI);
        let min = -max;
        let one = q("1n");
        assert_eq!((max + one).nanos(), MAX_NANOS);
        assert_eq!((min - one).nanos(), -MAX_NANOS);
        assert_eq!((min + min).nanos(), -MAX_NANOS);
        assert_eq!((max - min).nanos(), MAX_NANOS);
        assert_eq!(max.checked_add(one), None);
        assert_eq!(min.checked_sub(one), None);
        assert_eq!(min.checked_add(-one), None);
        assert_eq!(max.checked_sub(one).map(|r| r.nanos()), Some(MAX_NANOS - 1));
        let zero = Quantity::ZERO;
        let checked = zero.checked_add(q("1Gi")).expect("in range");
        assert_eq!(checked.to_string(), "1Gi");
        let checked = zero.checked_sub(q("1Gi")).expect("in range");
        assert_eq!(checked.to_string(), "-1Gi");
    }

    #[test]
    fn comparison_ignores_format() {
        // TestQuantityCmp and TestQuantityCmpInt64AndDec, plus cross-format cases.
        for (a, b, expected) in [
            ("0", "0", Ordering::Equal),
            ("100m", "50m", Ordering::Greater),
            ("50m", "100m", Ordering::Less),
            ("10000T", "100Gi", Ordering::Greater),
            ("9.01", "9.01", Ordering::Equal),
            ("9", "9.01", Ordering::Less),
            ("9.01", "9", Ordering::Greater),
            ("0", "0Ki", Ordering::Equal),
            ("800m", "1", Ordering::Less),
            ("800m", "790m", Ordering::Greater),
            ("1Ki", "1024", Ordering::Equal),
            ("1e3", "1k", Ordering::Equal),
            ("1Gi", "1G", Ordering::Greater),
            ("-1", "1n", Ordering::Less),
            ("10E", "9Ei", Ordering::Greater),
        ] {
            assert_eq!(q(a).cmp(&q(b)), expected, "{a} vs {b}");
            assert_eq!(q(b).cmp(&q(a)), expected.reverse(), "{b} vs {a}");
        }
        let hash = |value: &Quantity| {
            let mut hasher = DefaultHasher::new();
            value.hash(&mut hasher);
            hasher.finish()
        };
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(hash(&q("1Ki")), hash(&q("1024")));
        assert_eq!(hash(&q("1e3")), hash(&q("1k")));
        let mut sorted = [q("1Gi"), q("1"), q("-1Ki"), q("500m"), q("1G")];
        sorted.sort();
        let texts: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["-1Ki", "500m", "1", "1G", "1Gi"]);
    }

    #[test]
    fn cmp_int64_sign_and_zero() {
        assert_eq!(q("1023").cmp_int64(1024), Ordering::Less);
        assert_eq!(q("1Ki").cmp_int64(1024), Ordering::Equal);
        assert_eq!(q("1024001m").cmp_int64(1024), Ordering::Greater);
        assert_eq!(q("-1n").cmp_int64(0), Ordering::Less);
        assert_eq!(q("10E").cmp_int64(i64::MAX), Ordering::Greater);
        for (input, sign, zero) in [("0", 0, true), ("1n", 1, false), ("-1Ki", -1, false)] {
            assert_eq!(q(input).sign(), sign, "{input}");
            assert_eq!(q(input).is_zero(), zero, "{input}");
        }
    }

    #[test]
    fn as_f64_matches_kubernetes() {
        // TestQuantityAsApproximateFloat64 / TestStringQuantityAsApproximateFloat64.
        for (input, expected) in [
            ("0", 0.0),
            ("1", 1.0),
            ("1024", 1024.0),
            ("8Ki", 8192.0),
            ("7Mi", 7_340_032.0),
            ("70Mi", 73_400_320.0),
            ("2Ki", 2048.0),
            ("1.1Ki", 1126.4),
            ("1Mi", 1.048576e+06),
            ("2Gi", 2.147483648e+09),
            ("9Ei", 9.223372036854776e18),
            ("12E", 1.2e19),
            ("1m", 0.001),
            ("-1.5", -1.5),
        ] {
            assert_eq!(q(input).as_f64(), expected, "{input}");
        }
        let huge = Quantity::from_nanos(MAX_NANOS, Format::DecimalSI).as_f64();
        assert!((huge - 1.7014118346046923e29).abs() < 1e15);
    }

    #[test]
    fn sum_starts_from_the_first_format() {
        let total: Quantity = ["1Gi", "512Mi", "512Mi"].iter().map(|s| q(s)).sum();
        assert_eq!(total.to_string(), "2Gi");
        let parts = [q("100m"), q("200m"), q("0.7")];
        let total: Quantity = parts.iter().sum();
        assert_eq!(total.to_string(), "1");
        let empty: Quantity = std::iter::empty::<Quantity>().sum();
        assert_eq!(empty.to_string(), "0");
    }

    #[test]
    fn display_pads_and_debug_shows_canonical() {
        assert_eq!(format!("{:>8}|", q("1.5")), "   1500m|");
        assert_eq!(format!("{:<6}|", q("1Gi")), "1Gi   |");
        let debug = format!("{:?}", q("1.5Gi"));
        assert!(debug.contains("\"1536Mi\""), "{debug}");
        assert!(debug.contains("BinarySI"), "{debug}");
        assert_eq!(Format::DecimalExponent.to_string(), "DecimalExponent");
        assert_eq!(Format::BinarySI.as_str(), "BinarySI");
    }

    #[test]
    fn json_serialises_the_canonical_string() {
        assert_eq!(serde_json::to_string(&q("1.5Gi")).unwrap(), "\"1536Mi\"");
        assert_eq!(serde_json::to_string(&q("0.5")).unwrap(), "\"500m\"");
        assert_eq!(serde_json::to_string(&q("-1e3")).unwrap(), "\"-1e3\"");
        assert_eq!(serde_json::to_string(&Quantity::ZERO).unwrap(), "\"0\"");
        let map = std::collections::BTreeMap::from([("cpu", q("250m")), ("memory", q("64Mi"))]);
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"cpu":"250m","memory":"64Mi"}"#
        );
    }

    #[test]
    fn json_deserialises_strings_and_numbers() {
        let from = |json: &str| -> Quantity {
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
        };
        // TestJSONWhitespace.
        for (json, expected) in [
            (r#"" 1""#, "1"),
            (r#""1 ""#, "1"),
            ("1", "1"),
            (" 1", "1"),
            ("1 ", "1"),
            ("10", "10"),
            ("-1", "-1"),
            (" -1", "-1"),
            (r#""1.5Gi""#, "1536Mi"),
            (r#""\t100m\n""#, "100m"),
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("0.1", "100m"),
            ("-0.25", "-250m"),
            ("1e3", "1k"),
            ("2.5e-3", "2500u"),
            ("0", "0"),
            ("-0.0", "0"),
            ("18446744073709551615", "18446744073709551615"),
            ("1e300", "170141183460469231731687303715884105727n"),
        ] {
            assert_eq!(from(json).to_string(), expected, "{json}");
        }
        assert_eq!(from("1").format(), Format::DecimalSI);
        assert_eq!(from("0.5").format(), Format::DecimalSI);
        assert_eq!(from("\"1e3\"").format(), Format::DecimalExponent);
        assert_eq!(from("\"1Ki\"").format(), Format::BinarySI);
    }

    #[test]
    fn json_rejects_bad_input_with_clear_messages() {
        let error = |json: &str| {
            serde_json::from_str::<Quantity>(json)
                .expect_err(json)
                .to_string()
        };
        assert!(
            error(r#""1.1.M""#).starts_with("quantities must match the regular expression"),
            "{}",
            error(r#""1.1.M""#)
        );
        assert!(error(r#""""#).starts_with("quantities must match"));
        assert!(error(r#""1i""#).starts_with("unable to parse quantity's suffix"));
        assert!(error(r#""Ei""#).starts_with("unable to parse numeric part of quantity"));
        for json in ["true", "null", "[]", "{}"] {
            let message = error(json);
            assert!(message.contains("invalid type"), "{json}: {message}");
            assert!(
                message.contains("a quantity as a string"),
                "{json}: {message}"
            );
        }
    }

    #[test]
    fn json_optional_fields_and_structs() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Resources {
            cpu: Option<Quantity>,
            memory: Option<Quantity>,
        }
        let parsed: Resources =
            serde_json::from_str(r#"{"cpu": 0.5, "memory": null}"#).expect("valid");
        assert_eq!(
            parsed,
            Resources {
                cpu: Some(q("500m")),
                memory: None
            }
        );
        let text = serde_json::to_string(&parsed).expect("serialise");
        assert_eq!(text, r#"{"cpu":"500m","memory":null}"#);
        let back: Resources = serde_json::from_str(&text).expect("valid");
        assert_eq!(back, parsed);
    }

    #[test]
    fn rkyv_round_trip_and_archived_access() {
        for text in ["0", "1.5Gi", "-250m", "1e3", "10E", "9Ei", "1n"] {
            let original = q(text);
            let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&original).expect("archive");
            let archived =
                rkyv::access::<ArchivedQuantity, rkyv::rancor::Error>(&bytes).expect("valid");
            assert_eq!(archived.nanos(), original.nanos(), "{text}");
            assert_eq!(archived.format(), original.format(), "{text}");
            assert_eq!(archived.is_zero(), original.is_zero());
            assert_eq!(archived.to_string(), original.to_string());
            assert_eq!(*archived, original);
            assert_eq!(original, *archived);
            let native = archived.to_quantity();
            assert_eq!((native, native.format()), (original, original.format()));
            assert_eq!(Quantity::from(archived).format(), original.format());
            let deserialised: Quantity =
                rkyv::deserialize::<Quantity, rkyv::rancor::Error>(archived).expect("deserialise");
            assert_eq!(
                (deserialised, deserialised.format()),
                (original, original.format())
            );
        }
    }

    #[test]
    fn rkyv_archived_collections_compare_by_value() {
        let values = vec![q("1Ki"), q("1024"), q("2"), q("-1")];
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&values).expect("archive");
        let archived = rkyv::access::<rkyv::Archived<Vec<Quantity>>, rkyv::rancor::Error>(&bytes)
            .expect("valid");
        assert_eq!(archived.len(), 4);
        assert_eq!(archived[0], archived[1]);
        assert_eq!(archived[0].format(), Format::BinarySI);
        assert_eq!(archived[1].format(), Format::DecimalSI);
        assert!(archived[2] < archived[0]);
        assert_eq!(
            archived.iter().max().map(ArchivedQuantity::nanos),
            Some(KI * N)
        );
        let debug = format!("{:?}", archived[3]);
        assert!(debug.contains("nanos"), "{debug}");
        let truncated = &bytes[..bytes.len() - 1];
        assert!(
            rkyv::access::<rkyv::Archived<Vec<Quantity>>, rkyv::rancor::Error>(truncated).is_err()
        );
    }

    fn any_format() -> impl Strategy<Value = Format> {
        prop_oneof![
            Just(Format::DecimalExponent),
            Just(Format::BinarySI),
            Just(Format::DecimalSI),
        ]
    }

    /// Nano counts that exercise every branch of the formatter.
    fn any_nanos() -> impl Strategy<Value = i128> {
        let nanos = prop_oneof![
            any::<i128>(),
            any::<i64>().prop_map(i128::from),
            (any::<i32>(), 0u32..=28).prop_map(|(m, e)| i128::from(m) * 10i128.pow(e)),
            (any::<i32>(), 0u32..=7)
                .prop_map(|(m, k)| (i128::from(m) * KI.pow(k)).saturating_mul(N)),
        ];
        nanos.prop_map(|n| n.max(-MAX_NANOS))
    }

    /// Integer suffixes with their multiplier in nano-units.
    const SUFFIXES: [(&str, i128); 16] = [
        ("n", 1),
        ("u", 1_000),
        ("m", 1_000_000),
        ("", N),
        ("k", N * 1_000),
        ("M", N * 1_000_000),
        ("G", N * N),
        ("T", N * N * 1_000),
        ("P", N * N * 1_000_000),
        ("E", N * N * N),
        ("Ki", N * 1024),
        ("Mi", N * (1 << 20)),
        ("Gi", N * (1 << 30)),
        ("Ti", N * (1 << 40)),
        ("Pi", N * (1 << 50)),
        ("Ei", N * (1 << 60)),
    ];

    proptest! {
        #[test]
        fn canonical_string_parses_back(nanos in any_nanos(), format in any_format()) {
            let original = Quantity::from_nanos(nanos, format);
            let text = original.to_string();
            let parsed = Quantity::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            let capped = format == Format::BinarySI
                && text.ends_with('i')
                && nanos.unsigned_abs() > BINARY_SI_CAP_NANOS;
            if capped {
                // Kubernetes caps BinarySI strings at 2^63-1 when parsing.
                prop_assert_eq!(parsed.nanos(), nanos.signum() * CAP);
            } else {
                prop_assert_eq!(parsed, original, "{}", text);
            }
            // The string is a fixed point, except that BinarySI integers without a
            // binary suffix re-parse as DecimalSI (Go: BinarySI 2000 is "2000", but
            // "2000" is DecimalSI and prints "2k").
            if format != Format::BinarySI {
                prop_assert_eq!(parsed.to_string(), text);
            }
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = Quantity::parse(&input);
        }

        #[test]
        fn parsed_quantities_are_stable(
            input in "[+-]?[0-9]{0,25}(\\.[0-9]{0,25})?([eEinumkKMGTP]{0,2}[+-]?[0-9]{0,12})?"
        ) {
            if let Ok(parsed) = Quantity::parse(&input) {
                let text = parsed.to_string();
                let again = Quantity::parse(&text)
                    .map_err(|e| TestCaseError::fail(format!("{input:?} -> {text:?}: {e}")))?;
                prop_assert_eq!(again, parsed, "{:?} -> {:?}", input, text);
                prop_assert_eq!(again.to_string(), text);
            }
        }

        #[test]
        fn integers_with_suffixes_scale_exactly(value in any::<i64>(), index in 0..SUFFIXES.len()) {
            let (suffix, multiplier) = SUFFIXES[index];
            let parsed = Quantity::parse(&format!("{value}{suffix}"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let magnitude = i128::from(value.unsigned_abs());
            let expected = if suffix.ends_with('i') {
                let units = magnitude * (multiplier / N);
                units.min(i128::from(i64::MAX)) * N
            } else {
                magnitude.checked_mul(multiplier).unwrap_or(MAX_NANOS)
            };
            prop_assert_eq!(parsed.nanos(), if value < 0 { -expected } else { expected });
            let format = if suffix.ends_with('i') { Format::BinarySI } else { Format::DecimalSI };
            prop_assert_eq!(parsed.format(), format);
        }

        #[test]
        fn add_then_sub_restores_the_value(
            a in -(1i128 << 120)..(1i128 << 120),
            b in -(1i128 << 120)..(1i128 << 120),
            fa in any_format(),
            fb in any_format(),
        ) {
            let x = Quantity::from_nanos(a, fa);
            let y = Quantity::from_nanos(b, fb);
            prop_assert_eq!((x + y).nanos(), a + b);
            prop_assert_eq!((x + y) - y, x);
            prop_assert_eq!(x + y, y + x);
            prop_assert_eq!(x - y, -(y - x));
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
        }

        #[test]
        fn json_and_rkyv_round_trip(nanos in any_nanos(), format in any_format()) {
            let original = Quantity::from_nanos(nanos, format);
            let json = serde_json::to_string(&original)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let capped = format == Format::BinarySI
                && json.ends_with("i\"")
                && nanos.unsigned_abs() > BINARY_SI_CAP_NANOS;
            if !capped {
                let back: Quantity = serde_json::from_str(&json)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back, original);
            }
            let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&original)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let archived = rkyv::access::<ArchivedQuantity, rkyv::rancor::Error>(&bytes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(archived.nanos(), nanos);
            prop_assert_eq!(archived.format(), format);
        }
    }
}
