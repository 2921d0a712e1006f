//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): request bodies from typed
//! clients such as kubectl, decoded into the generated API types; and the encoder that
//! writes the same bytes back (tests and tools; the API server answers in JSON).
//!
//! # Wire format
//!
//! A body is the 4-byte magic [`MAGIC`] (`k8s\0`) followed by a `runtime.Unknown` message:
//! `typeMeta` (1: `apiVersion` 1, `kind` 2), `raw` (2: the object's own message),
//! `contentEncoding` (3) and `contentType` (4). Every message is proto2: any field may be
//! absent or repeated; the last occurrence of a scalar wins and messages merge; unknown
//! field numbers are skipped. The object messages carry no TypeMeta.
//!
//! The generated impls (one per struct, by clipper-protogen from
//! `proto/schema/v1.33-protobuf-fields.json`) read fields by number through the helpers in
//! [`de`] and [`en`]; the special types (Quantity, IntOrString, Time, MicroTime, raw JSON,
//! the JSONSchemaProps unions) are decoded by hand here, following apimachinery's own
//! `Unmarshal` methods:
//! - `Quantity` {string 1}, parsed as `ParseQuantity` does;
//! - `IntOrString` {type 1, intVal 2, strVal 3}; a type other than 0 (int) or 1 (string)
//!   is refused, as Go refuses to write it as JSON;
//! - `Time` {seconds 1, nanos 2}: an empty message is the zero time (unset); nanos are
//!   dropped; `MicroTime` keeps microseconds (nanos truncated towards zero);
//! - `RawExtension`/`JSON` {raw 1} and `FieldsV1` {Raw 1}: JSON text, or an embedded
//!   protobuf object (magic first), which is decoded by kind into JSON;
//! - the value-type zero rule: Go holds many scalars by value and always writes them, zero
//!   included, where its JSON omits a zero (`omitempty`); such a field (flagged in the
//!   table) decodes a zero as unset, so that the object equals what Go would write as JSON.
//!
//! Strings are decoded as UTF-8 with invalid sequences replaced (U+FFFD), which is what
//! Go's JSON encoder would make of them. Nothing here panics on any input: lengths are
//! checked against the buffer, varints are at most 10 bytes, and nesting is bounded by
//! [`MAX_DEPTH`].

use std::collections::BTreeMap;
use std::fmt;

use crate::jsonschema::{
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, JSONSchemaPropsOrStringArray,
};
use crate::{ByteString, IntOrString, JsonValue, MicroTime, Quantity, Time};

/// The prefix of every Kubernetes protobuf body: `k8s` and a zero byte (the envelope
/// version).
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Deepest nesting of messages accepted. Decoding recurses once per level, so the bound
/// keeps the stack small whatever the input; 128 matches serde_json's own limit, and a
/// CRD schema of 60 levels (each level is a map entry and a schema message) still fits.
pub const MAX_DEPTH: usize = 128;

/// The largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// A varint is at most 10 bytes (64 bits in groups of 7); Go's decoder refuses more.
const MAX_VARINT_BYTES: usize = 10;

/// Unix seconds of Go's zero `time.Time` (year 1), which Kubernetes writes as null.
pub const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// `runtime.Unknown` field numbers.
mod unknown {
    pub const TYPE_META: u32 = 1;
    pub const RAW: u32 = 2;
    pub const CONTENT_ENCODING: u32 = 3;
    pub const CONTENT_TYPE: u32 = 4;
    /// `runtime.TypeMeta` field numbers.
    pub const API_VERSION: u32 = 1;
    pub const KIND: u32 = 2;
}

/// Field numbers of the hand-decoded special messages.
mod special {
    /// `resource.Quantity`: the canonical string.
    pub const QUANTITY_STRING: u32 = 1;
    /// `intstr.IntOrString`.
    pub const INTSTR_TYPE: u32 = 1;
    pub const INTSTR_INT_VAL: u32 = 2;
    pub const INTSTR_STR_VAL: u32 = 3;
    /// `metav1.Time` and `metav1.MicroTime`.
    pub const TIME_SECONDS: u32 = 1;
    pub const TIME_NANOS: u32 = 2;
    /// `runtime.RawExtension.raw`, `metav1.FieldsV1.Raw`, apiextensions `JSON.raw`.
    pub const RAW: u32 = 1;
    /// `JSONSchemaPropsOrArray`.
    pub const OR_ARRAY_SCHEMA: u32 = 1;
    pub const OR_ARRAY_SCHEMAS: u32 = 2;
    /// `JSONSchemaPropsOrBool`.
    pub const OR_BOOL_ALLOWS: u32 = 1;
    pub const OR_BOOL_SCHEMA: u32 = 2;
    /// `JSONSchemaPropsOrStringArray`.
    pub const OR_STRINGS_SCHEMA: u32 = 1;
    pub const OR_STRINGS_PROPERTY: u32 = 2;
    /// The key and value of a map entry.
    pub const MAP_KEY: u32 = 1;
    pub const MAP_VALUE: u32 = 2;
}

/// The (message, field number) pairs of the hand-decoded messages, for the test that
/// checks them against the field table.
#[doc(hidden)]
pub const SPECIAL_FIELDS: &[(&str, &str, u32)] = &[
    (
        "io.k8s.apimachinery.pkg.runtime.Unknown",
        "typeMeta",
        unknown::TYPE_META,
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.Unknown",
        "raw",
        unknown::RAW,
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.Unknown",
        "contentEncoding",
        unknown::CONTENT_ENCODING,
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.Unknown",
        "contentType",
        unknown::CONTENT_TYPE,
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.TypeMeta",
        "apiVersion",
        unknown::API_VERSION,
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.TypeMeta",
        "kind",
        unknown::KIND,
    ),
    (
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        "string",
        special::QUANTITY_STRING,
    ),
    (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        "type",
        special::INTSTR_TYPE,
    ),
    (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        "intVal",
        special::INTSTR_INT_VAL,
    ),
    (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        "strVal",
        special::INTSTR_STR_VAL,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        "seconds",
        special::TIME_SECONDS,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
        "nanos",
        special::TIME_NANOS,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
        "seconds",
        special::TIME_SECONDS,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
        "nanos",
        special::TIME_NANOS,
    ),
    (
        "io.k8s.apimachinery.pkg.runtime.RawExtension",
        "raw",
        special::RAW,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
        "Raw",
        special::RAW,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
        "raw",
        special::RAW,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
        "schema",
        special::OR_ARRAY_SCHEMA,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
        "jSONSchemas",
        special::OR_ARRAY_SCHEMAS,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
        "allows",
        special::OR_BOOL_ALLOWS,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
        "schema",
        special::OR_BOOL_SCHEMA,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
        "schema",
        special::OR_STRINGS_SCHEMA,
    ),
    (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
        "property",
        special::OR_STRINGS_PROPERTY,
    ),
];

// ---------------------------------------------------------------------------------------
// Errors

/// What went wrong, without the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is empty.
    EmptyData,
    /// The body does not start with [`MAGIC`].
    NotProtobuf,
    /// The body is the magic and nothing else.
    EmptyBody,
    /// A length or value runs past the end of its buffer.
    Truncated,
    /// A varint longer than 10 bytes.
    VarintOverflow,
    /// Field number 0, or beyond 2^29 - 1.
    IllegalTag(u64),
    /// Wire type 6 or 7, or an end-group marker without a start.
    InvalidWireType(u8),
    /// A start-group marker whose end never comes.
    UnterminatedGroup,
    /// A known field arrived with another wire type than its declared one.
    WrongWireType { expected: &'static str, found: u8 },
    /// Messages nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A value the special types refuse (bad quantity, JSON, time, IntOrString type).
    InvalidValue(String),
    /// The envelope names no kind.
    MissingKind,
    /// No decoder for this apiVersion and kind.
    UnknownKind { api_version: String, kind: String },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::EmptyData => f.write_str("empty data"),
            ErrorKind::NotProtobuf => write!(
                f,
                "provided data does not appear to be a protobuf message, expected prefix {:?}",
                MAGIC
            ),
            ErrorKind::EmptyBody => f.write_str("empty body"),
            ErrorKind::Truncated => f.write_str("unexpected end of data"),
            ErrorKind::VarintOverflow => f.write_str("integer overflow"),
            ErrorKind::IllegalTag(t) => write!(f, "illegal tag {t}"),
            ErrorKind::InvalidWireType(w) => write!(f, "illegal wire type {w}"),
            ErrorKind::UnterminatedGroup => f.write_str("group without an end"),
            ErrorKind::WrongWireType { expected, found } => {
                write!(f, "wrong wire type {found}, expected {expected}")
            }
            ErrorKind::TooDeep => write!(f, "messages nested deeper than {MAX_DEPTH} levels"),
            ErrorKind::InvalidValue(s) => f.write_str(s),
            ErrorKind::MissingKind => f.write_str("the object names no kind"),
            ErrorKind::UnknownKind { api_version, kind } => {
                write!(f, "no protobuf decoder for {kind} in {api_version:?}")
            }
        }
    }
}

/// A protobuf decoding error, with the path of (message, field number) to where it
/// happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtobufError {
    kind: ErrorKind,
    /// Innermost first.
    path: Vec<(&'static str, u32)>,
}

impl ProtobufError {
    pub fn new(kind: ErrorKind) -> ProtobufError {
        ProtobufError {
            kind,
            path: Vec::new(),
        }
    }

    fn invalid(message: impl Into<String>) -> ProtobufError {
        ProtobufError::new(ErrorKind::InvalidValue(message.into()))
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Where the error happened, outermost first, as `Message.field`.
    pub fn path(&self) -> String {
        let parts: Vec<String> = self
            .path
            .iter()
            .rev()
            .map(|(m, n)| format!("{m}.{n}"))
            .collect();
        parts.join(" > ")
    }

    fn within(mut self, message: &'static str, field: u32) -> ProtobufError {
        self.path.push((message, field));
        self
    }
}

impl fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "protobuf: {}", self.kind)
        } else {
            write!(f, "protobuf: {}: {}", self.path(), self.kind)
        }
    }
}

impl std::error::Error for ProtobufError {}

impl From<ErrorKind> for ProtobufError {
    fn from(kind: ErrorKind) -> Self {
        ProtobufError::new(kind)
    }
}

type Result<T, E = ProtobufError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------
// Reading

/// One field's value as it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, messages, packed scalars, map entries.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
    /// Wire type 3 (skipped whole; no Kubernetes field is a group).
    Group,
}

impl WireValue<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Group => 3,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// A field read from a message: its number, its value, and how deep its message is.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    pub number: u32,
    pub value: WireValue<'a>,
    /// Nesting depth of the message holding this field (the top-level object is 0).
    pub depth: usize,
}

impl<'a> Field<'a> {
    fn wrong(&self, expected: &'static str) -> ProtobufError {
        ProtobufError::new(ErrorKind::WrongWireType {
            expected,
            found: self.value.wire_type(),
        })
    }

    fn varint(&self) -> Result<u64> {
        match self.value {
            WireValue::Varint(v) => Ok(v),
            _ => Err(self.wrong("varint")),
        }
    }

    fn bytes(&self) -> Result<&'a [u8]> {
        match self.value {
            WireValue::Bytes(b) => Ok(b),
            _ => Err(self.wrong("length-delimited")),
        }
    }

    /// The fields of the message this field holds, one level deeper.
    fn message(&self) -> Result<Reader<'a>> {
        let bytes = self.bytes()?;
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(ErrorKind::TooDeep.into());
        }
        Ok(Reader::new(bytes, depth))
    }
}

/// A bounds-checked reader of one message's fields.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], depth: usize) -> Reader<'a> {
        Reader { buf, pos: 0, depth }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value: u64 = 0;
        for i in 0..MAX_VARINT_BYTES {
            let b = *self.buf.get(self.pos).ok_or(ErrorKind::Truncated)?;
            self.pos += 1;
            // Bits beyond 64 in the tenth byte are dropped, as Go's decoder does.
            value |= u64::from(b & 0x7f).checked_shl(7 * i as u32).unwrap_or(0);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(ErrorKind::VarintOverflow.into())
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        let len = usize::try_from(len).map_err(|_| ErrorKind::Truncated)?;
        let end = self.pos.checked_add(len).ok_or(ErrorKind::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(ErrorKind::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads a tag: (field number, wire type).
    fn tag(&mut self) -> Result<(u32, u8)> {
        let tag = self.varint()?;
        let number = tag >> 3;
        let wire = (tag & 7) as u8;
        if number == 0 || number > MAX_FIELD_NUMBER {
            return Err(ErrorKind::IllegalTag(tag).into());
        }
        Ok((number as u32, wire))
    }

    /// Skips the rest of a group that started with field `number`.
    fn skip_group(&mut self, number: u32) -> Result<()> {
        let mut open = vec![number];
        while let Some(&top) = open.last() {
            if self.pos >= self.buf.len() {
                return Err(ErrorKind::UnterminatedGroup.into());
            }
            let (n, wire) = self.tag()?;
            match wire {
                0 => {
                    self.varint()?;
                }
                1 => {
                    self.take(8)?;
                }
                2 => {
                    let len = self.varint()?;
                    self.take(len)?;
                }
                3 => {
                    if self.depth + open.len() >= MAX_DEPTH {
                        return Err(ErrorKind::TooDeep.into());
                    }
                    open.push(n);
                }
                4 if n == top => {
                    open.pop();
                }
                5 => {
                    self.take(4)?;
                }
                w => return Err(ErrorKind::InvalidWireType(w).into()),
            }
        }
        Ok(())
    }

    /// The next field, or None at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let (number, wire) = self.tag()?;
        let value = match wire {
            0 => WireValue::Varint(self.varint()?),
            1 => WireValue::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            2 => {
                let len = self.varint()?;
                WireValue::Bytes(self.take(len)?)
            }
            3 => {
                self.skip_group(number)?;
                WireValue::Group
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            w => return Err(ErrorKind::InvalidWireType(w).into()),
        };
        Ok(Some(Field {
            number,
            value,
            depth: self.depth,
        }))
    }
}

// ---------------------------------------------------------------------------------------
// Traits

/// A generated message type: reads its fields by number.
pub trait Decode: Default {
    /// The message name, for error paths.
    const MESSAGE: &'static str;
    /// Merges one field into `self`; unknown numbers are ignored.
    fn merge_field(&mut self, field: Field<'_>) -> Result<()>;
}

/// A generated message type: writes its fields in field-number order.
pub trait Encode {
    fn encode_fields(&self, out: &mut Vec<u8>);
}

impl<T: Decode> Decode for Box<T> {
    const MESSAGE: &'static str = T::MESSAGE;
    fn merge_field(&mut self, field: Field<'_>) -> Result<()> {
        (**self).merge_field(field)
    }
}

impl<T: Encode> Encode for Box<T> {
    fn encode_fields(&self, out: &mut Vec<u8>) {
        (**self).encode_fields(out)
    }
}

/// Merges every field of a message body into `target`.
fn merge_fields<T: Decode>(target: &mut T, mut reader: Reader<'_>) -> Result<()> {
    while let Some(field) = reader.next_field()? {
        let number = field.number;
        target
            .merge_field(field)
            .map_err(|e| e.within(T::MESSAGE, number))?;
    }
    Ok(())
}

/// A value one field can hold: a scalar, a special type, or a generated message.
pub trait Leaf: Sized {
    /// Decodes one occurrence of the field.
    fn decode_leaf(field: &Field<'_>) -> Result<Self>;
    /// Folds a further occurrence into an existing value: messages merge, the rest is
    /// replaced (last one wins).
    fn merge_leaf(&mut self, field: &Field<'_>) -> Result<()> {
        *self = Self::decode_leaf(field)?;
        Ok(())
    }
    /// Decodes a packed run of scalars; None for types that cannot be packed.
    fn decode_packed(_bytes: &[u8], _out: &mut Vec<Self>) -> Option<Result<()>> {
        None
    }
    /// The value Go has when the field is absent (a map entry without value, a value-type
    /// field that was never set).
    fn zero() -> Self;
    /// Whether a decoded value means "unset" wherever the field is optional (the zero
    /// time, an empty schema union).
    fn is_unset(&self) -> bool {
        false
    }
    /// Whether this is the zero scalar that a value-type `omitempty` field leaves out.
    fn is_zero(&self) -> bool {
        false
    }
    /// Writes the field.
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>);
}

impl<T: Decode + Encode> Leaf for T {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let mut value = T::default();
        value.merge_leaf(field)?;
        Ok(value)
    }
    fn merge_leaf(&mut self, field: &Field<'_>) -> Result<()> {
        merge_fields(self, field.message()?)
    }
    fn zero() -> Self {
        T::default()
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_message(out, number, |out| self.encode_fields(out));
    }
}

impl Leaf for String {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        Ok(String::from_utf8_lossy(field.bytes()?).into_owned())
    }
    fn zero() -> Self {
        String::new()
    }
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_bytes(out, number, self.as_bytes());
    }
}

impl Leaf for ByteString {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        Ok(ByteString(field.bytes()?.to_vec()))
    }
    fn zero() -> Self {
        ByteString(Vec::new())
    }
    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_bytes(out, number, &self.0);
    }
}

/// Reads a packed run of varints.
fn packed_varints<T>(bytes: &[u8], out: &mut Vec<T>, convert: fn(u64) -> T) -> Result<()> {
    let mut reader = Reader::new(bytes, 0);
    while reader.pos < bytes.len() {
        out.push(convert(reader.varint()?));
    }
    Ok(())
}

macro_rules! varint_leaf {
    ($t:ty, $from:expr, $to:expr) => {
        impl Leaf for $t {
            fn decode_leaf(field: &Field<'_>) -> Result<Self> {
                field.varint().map($from)
            }
            fn decode_packed(bytes: &[u8], out: &mut Vec<Self>) -> Option<Result<()>> {
                Some(packed_varints(bytes, out, $from))
            }
            fn zero() -> Self {
                <$t>::default()
            }
            fn is_zero(&self) -> bool {
                *self == <$t>::default()
            }
            fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
                put_tag(out, number, 0);
                put_varint(out, $to(*self));
            }
        }
    };
}

// int32 is sign-extended to 64 bits on the wire and truncated back, as Go does.
varint_leaf!(i32, |v: u64| v as i32, |v: i32| i64::from(v) as u64);
varint_leaf!(i64, |v: u64| v as i64, |v: i64| v as u64);
varint_leaf!(bool, |v: u64| v != 0, u64::from);

impl Leaf for f64 {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        match field.value {
            WireValue::Fixed64(bits) => Ok(f64::from_bits(bits)),
            _ => Err(field.wrong("64-bit")),
        }
    }
    fn decode_packed(bytes: &[u8], out: &mut Vec<Self>) -> Option<Result<()>> {
        if !bytes.len().is_multiple_of(8) {
            return Some(Err(ErrorKind::Truncated.into()));
        }
        for chunk in bytes.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            out.push(f64::from_le_bytes(b));
        }
        Some(Ok(()))
    }
    fn zero() -> Self {
        0.0
    }
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_tag(out, number, 1);
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
}

impl Leaf for Quantity {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let mut reader = field.message()?;
        let mut text = None;
        while let Some(f) = reader.next_field()? {
            if f.number == special::QUANTITY_STRING {
                text = Some(String::decode_leaf(&f)?);
            }
        }
        match text {
            // An empty message is Go's zero Quantity.
            None => Ok(Quantity::default()),
            Some(s) => Quantity::parse(&s)
                .map_err(|e| ProtobufError::invalid(format!("quantity {s:?}: {e}"))),
        }
    }
    fn zero() -> Self {
        Quantity::default()
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_message(out, number, |out| {
            put_bytes(out, special::QUANTITY_STRING, self.to_string().as_bytes())
        });
    }
}

impl Leaf for IntOrString {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let mut reader = field.message()?;
        let (mut ty, mut int_val, mut str_val) = (0i64, 0i32, String::new());
        while let Some(f) = reader.next_field()? {
            match f.number {
                special::INTSTR_TYPE => ty = i64::decode_leaf(&f)?,
                special::INTSTR_INT_VAL => int_val = i32::decode_leaf(&f)?,
                special::INTSTR_STR_VAL => str_val = String::decode_leaf(&f)?,
                _ => {}
            }
        }
        match ty {
            0 => Ok(IntOrString::Int(int_val)),
            1 => Ok(IntOrString::String(str_val)),
            other => Err(ProtobufError::invalid(format!(
                "impossible IntOrString type {other}"
            ))),
        }
    }
    fn zero() -> Self {
        IntOrString::Int(0)
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        // Go holds all three fields by value and writes them all.
        let (ty, int_val, str_val) = match self {
            IntOrString::Int(i) => (0i64, *i, ""),
            IntOrString::String(s) => (1, 0, s.as_str()),
        };
        put_message(out, number, |out| {
            ty.encode_leaf(special::INTSTR_TYPE, out);
            int_val.encode_leaf(special::INTSTR_INT_VAL, out);
            put_bytes(out, special::INTSTR_STR_VAL, str_val.as_bytes());
        });
    }
}

/// Reads a `Timestamp`-shaped message; None for an empty one (Go's zero time).
fn timestamp(field: &Field<'_>) -> Result<Option<(i64, i32)>> {
    let bytes = field.bytes()?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut reader = field.message()?;
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while let Some(f) = reader.next_field()? {
        match f.number {
            special::TIME_SECONDS => seconds = i64::decode_leaf(&f)?,
            special::TIME_NANOS => nanos = i32::decode_leaf(&f)?,
            _ => {}
        }
    }
    Ok(Some((seconds, nanos)))
}

fn put_timestamp(out: &mut Vec<u8>, number: u32, seconds: i64, nanos: i32) {
    put_message(out, number, |out| {
        if seconds != 0 {
            seconds.encode_leaf(special::TIME_SECONDS, out);
        }
        if nanos != 0 {
            nanos.encode_leaf(special::TIME_NANOS, out);
        }
    });
}

impl Leaf for Time {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        // Kubernetes drops the nanoseconds of a Time, whatever the wire says.
        Ok(Time(
            timestamp(field)?.map_or(GO_ZERO_TIME_UNIX, |(s, _)| s),
        ))
    }
    fn zero() -> Self {
        Time(GO_ZERO_TIME_UNIX)
    }
    fn is_unset(&self) -> bool {
        self.0 == GO_ZERO_TIME_UNIX
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        if self.is_unset() {
            put_message(out, number, |_| {});
        } else {
            put_timestamp(out, number, self.0, 0);
        }
    }
}

/// Microseconds in a second, and nanoseconds in a microsecond.
const MICROS_PER_SECOND: i128 = 1_000_000;
const NANOS_PER_MICRO: i32 = 1_000;

impl Leaf for MicroTime {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let Some((seconds, nanos)) = timestamp(field)? else {
            return Ok(MicroTime::zero());
        };
        // Go truncates the nanoseconds to microseconds (towards zero) before adding.
        let micros = i128::from(seconds) * MICROS_PER_SECOND + i128::from(nanos / NANOS_PER_MICRO);
        i64::try_from(micros)
            .map(MicroTime)
            .map_err(|_| ProtobufError::invalid(format!("time {seconds}s is out of range")))
    }
    fn zero() -> Self {
        MicroTime(GO_ZERO_TIME_UNIX * MICROS_PER_SECOND as i64)
    }
    fn is_unset(&self) -> bool {
        *self == MicroTime::zero()
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        if self.is_unset() {
            put_message(out, number, |_| {});
        } else {
            let micros = self.0;
            let seconds = micros.div_euclid(MICROS_PER_SECOND as i64);
            let nanos = micros.rem_euclid(MICROS_PER_SECOND as i64) as i32 * NANOS_PER_MICRO;
            put_timestamp(out, number, seconds, nanos);
        }
    }
}

/// The JSON (or embedded protobuf object) of a RawExtension, FieldsV1 or JSON message.
impl Leaf for JsonValue {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let mut reader = field.message()?;
        let mut raw: &[u8] = &[];
        let mut raw_depth = field.depth;
        while let Some(f) = reader.next_field()? {
            if f.number == special::RAW {
                raw = f.bytes()?;
                raw_depth = f.depth;
            }
        }
        raw_json(raw, raw_depth)
    }
    fn zero() -> Self {
        JsonValue::Null
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_message(out, number, |out| {
            if !self.is_null() {
                // Serializing a JsonValue cannot fail: its keys are strings and its
                // floats are written as Go writes them.
                let json = serde_json::to_vec(self).unwrap_or_default();
                put_bytes(out, special::RAW, &json);
            }
        });
    }
}

/// Decodes the bytes of a raw field: nothing (null), an embedded protobuf object, or JSON.
fn raw_json(raw: &[u8], depth: usize) -> Result<JsonValue> {
    if raw.is_empty() {
        return Ok(JsonValue::Null);
    }
    if raw.starts_with(&MAGIC) {
        let (api_version, kind, inner) = decode_unknown(raw)?;
        return decode_kind_at(&api_version, &kind, inner, depth + 1).map(JsonValue::from);
    }
    let value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| ProtobufError::invalid(format!("embedded JSON: {e}")))?;
    Ok(JsonValue::from(value))
}

/// Reads the schema and list alternatives of a JSONSchemaProps union.
fn schema_union<T: Leaf>(
    field: &Field<'_>,
    schema_number: u32,
    other_number: u32,
) -> Result<(
    Option<crate::api::apiextensions::v1::JSONSchemaProps>,
    Vec<T>,
)> {
    let mut reader = field.message()?;
    let mut schema: Option<crate::api::apiextensions::v1::JSONSchemaProps> = None;
    let mut other = Vec::new();
    while let Some(f) = reader.next_field()? {
        if f.number == schema_number {
            match &mut schema {
                Some(s) => s.merge_leaf(&f)?,
                None => schema = Some(Leaf::decode_leaf(&f)?),
            }
        } else if f.number == other_number {
            push_repeated(&mut other, &f)?;
        }
    }
    Ok((schema, other))
}

impl Leaf for JSONSchemaPropsOrArray {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let (schema, schemas) =
            schema_union(field, special::OR_ARRAY_SCHEMA, special::OR_ARRAY_SCHEMAS)?;
        // Go writes the list when it has items, else the schema (or null).
        Ok(match schema {
            Some(s) if schemas.is_empty() => JSONSchemaPropsOrArray::Schema(Box::new(s)),
            _ => JSONSchemaPropsOrArray::Schemas(schemas),
        })
    }
    fn zero() -> Self {
        JSONSchemaPropsOrArray::Schemas(Vec::new())
    }
    fn is_unset(&self) -> bool {
        matches!(self, JSONSchemaPropsOrArray::Schemas(s) if s.is_empty())
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_message(out, number, |out| match self {
            JSONSchemaPropsOrArray::Schema(s) => s.encode_leaf(special::OR_ARRAY_SCHEMA, out),
            JSONSchemaPropsOrArray::Schemas(v) => {
                for s in v {
                    s.encode_leaf(special::OR_ARRAY_SCHEMAS, out);
                }
            }
        });
    }
}

impl Leaf for JSONSchemaPropsOrBool {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let mut reader = field.message()?;
        let mut allows = false;
        let mut schema: Option<crate::api::apiextensions::v1::JSONSchemaProps> = None;
        while let Some(f) = reader.next_field()? {
            match f.number {
                special::OR_BOOL_ALLOWS => allows = bool::decode_leaf(&f)?,
                special::OR_BOOL_SCHEMA => match &mut schema {
                    Some(s) => s.merge_leaf(&f)?,
                    None => schema = Some(Leaf::decode_leaf(&f)?),
                },
                _ => {}
            }
        }
        // Go writes the schema when there is one, else the boolean.
        Ok(match schema {
            Some(s) => JSONSchemaPropsOrBool::Schema(Box::new(s)),
            None => JSONSchemaPropsOrBool::Bool(allows),
        })
    }
    fn zero() -> Self {
        JSONSchemaPropsOrBool::Bool(false)
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        // Go holds `allows` by value (true beside a schema, as its JSON decoder sets it).
        put_message(out, number, |out| match self {
            JSONSchemaPropsOrBool::Bool(b) => b.encode_leaf(special::OR_BOOL_ALLOWS, out),
            JSONSchemaPropsOrBool::Schema(s) => {
                true.encode_leaf(special::OR_BOOL_ALLOWS, out);
                s.encode_leaf(special::OR_BOOL_SCHEMA, out);
            }
        });
    }
}

impl Leaf for JSONSchemaPropsOrStringArray {
    fn decode_leaf(field: &Field<'_>) -> Result<Self> {
        let (schema, property) = schema_union::<String>(
            field,
            special::OR_STRINGS_SCHEMA,
            special::OR_STRINGS_PROPERTY,
        )?;
        // Go writes the strings when there are any, else the schema (or null).
        Ok(match schema {
            Some(s) if property.is_empty() => JSONSchemaPropsOrStringArray::Schema(Box::new(s)),
            _ => JSONSchemaPropsOrStringArray::Strings(property),
        })
    }
    fn zero() -> Self {
        JSONSchemaPropsOrStringArray::Strings(Vec::new())
    }
    fn is_unset(&self) -> bool {
        matches!(self, JSONSchemaPropsOrStringArray::Strings(s) if s.is_empty())
    }
    fn encode_leaf(&self, number: u32, out: &mut Vec<u8>) {
        put_message(out, number, |out| match self {
            JSONSchemaPropsOrStringArray::Schema(s) => {
                s.encode_leaf(special::OR_STRINGS_SCHEMA, out)
            }
            JSONSchemaPropsOrStringArray::Strings(v) => {
                for p in v {
                    p.encode_leaf(special::OR_STRINGS_PROPERTY, out);
                }
            }
        });
    }
}

/// Appends one occurrence of a repeated field: a packed run or a single element.
fn push_repeated<T: Leaf>(out: &mut Vec<T>, field: &Field<'_>) -> Result<()> {
    if let WireValue::Bytes(bytes) = field.value
        && let Some(result) = T::decode_packed(bytes, out)
    {
        return result;
    }
    out.push(T::decode_leaf(field)?);
    Ok(())
}

/// Reads a message that holds a list in its repeated field `items` (Go's named slice
/// types: `Verbs`, `ExtraValue`).
fn item_list(field: &Field<'_>, items: u32) -> Result<Vec<String>> {
    let mut reader = field.message()?;
    let mut out = Vec::new();
    while let Some(f) = reader.next_field()? {
        if f.number == items {
            push_repeated(&mut out, &f)?;
        }
    }
    Ok(out)
}

/// Reads one map entry {key 1, value 2}; an absent part is Go's zero value.
fn map_entry<V>(
    field: &Field<'_>,
    mut value: impl FnMut(&Field<'_>, &mut Option<V>) -> Result<()>,
) -> Result<(String, Option<V>)> {
    let mut reader = field.message()?;
    let mut key = String::new();
    let mut val = None;
    while let Some(f) = reader.next_field()? {
        match f.number {
            special::MAP_KEY => key = String::decode_leaf(&f)?,
            special::MAP_VALUE => value(&f, &mut val)?,
            _ => {}
        }
    }
    Ok((key, val))
}

// ---------------------------------------------------------------------------------------
// Writing

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, number: u32, wire: u8) {
    put_varint(out, (u64::from(number) << 3) | u64::from(wire));
}

fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_tag(out, number, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_message(out: &mut Vec<u8>, number: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    put_bytes(out, number, &inner);
}

// ---------------------------------------------------------------------------------------
// Field helpers for the generated code

/// Decoding helpers called by the generated `Decode` impls, one per field shape.
#[doc(hidden)]
pub mod de {
    use super::*;

    /// A required (plain) field.
    pub fn value<T: Leaf>(target: &mut T, f: Field<'_>) -> Result<()> {
        target.merge_leaf(&f)
    }

    /// An optional field; an unset value (zero time, empty union) leaves it None.
    pub fn opt<T: Leaf>(target: &mut Option<T>, f: Field<'_>) -> Result<()> {
        match target {
            Some(v) => v.merge_leaf(&f)?,
            None => *target = Some(T::decode_leaf(&f)?),
        }
        if target.as_ref().is_some_and(Leaf::is_unset) {
            *target = None;
        }
        Ok(())
    }

    /// A scalar Go holds by value and omits from JSON when zero: zero is unset.
    pub fn opt_nonzero<T: Leaf>(target: &mut Option<T>, f: Field<'_>) -> Result<()> {
        let v = T::decode_leaf(&f)?;
        *target = if v.is_zero() { None } else { Some(v) };
        Ok(())
    }

    pub fn repeated<T: Leaf>(target: &mut Vec<T>, f: Field<'_>) -> Result<()> {
        push_repeated(target, &f)
    }

    pub fn opt_repeated<T: Leaf>(target: &mut Option<Vec<T>>, f: Field<'_>) -> Result<()> {
        let list = target.get_or_insert_default();
        push_repeated(list, &f)?;
        if list.is_empty() {
            *target = None;
        }
        Ok(())
    }

    pub fn map<V: Leaf>(target: &mut BTreeMap<String, V>, f: Field<'_>) -> Result<()> {
        let (key, value) = map_entry(&f, |f, v: &mut Option<V>| match v {
            Some(v) => v.merge_leaf(f),
            None => {
                *v = Some(V::decode_leaf(f)?);
                Ok(())
            }
        })?;
        target.insert(key, value.unwrap_or_else(V::zero));
        Ok(())
    }

    pub fn opt_map<V: Leaf>(target: &mut Option<BTreeMap<String, V>>, f: Field<'_>) -> Result<()> {
        map(target.get_or_insert_default(), f)
    }

    /// A list wrapped in a message (field `items` of `Verbs`).
    pub fn items(target: &mut Vec<String>, f: Field<'_>, items: u32) -> Result<()> {
        *target = item_list(&f, items)?;
        Ok(())
    }

    pub fn opt_items(target: &mut Option<Vec<String>>, f: Field<'_>, items: u32) -> Result<()> {
        *target = Some(item_list(&f, items)?);
        Ok(())
    }

    /// A map whose values are wrapped lists (`ExtraValue`).
    pub fn map_items(
        target: &mut BTreeMap<String, Vec<String>>,
        f: Field<'_>,
        items: u32,
    ) -> Result<()> {
        let (key, value) = map_entry(&f, |f, v: &mut Option<Vec<String>>| {
            *v = Some(item_list(f, items)?);
            Ok(())
        })?;
        target.insert(key, value.unwrap_or_default());
        Ok(())
    }

    pub fn opt_map_items(
        target: &mut Option<BTreeMap<String, Vec<String>>>,
        f: Field<'_>,
        items: u32,
    ) -> Result<()> {
        map_items(target.get_or_insert_default(), f, items)
    }

    /// An embedded Go struct whose fields JSON shows inline (`VolumeSource` in `Volume`):
    /// its message's fields go to `merge`, which writes them into the outer struct.
    pub fn inline(
        f: Field<'_>,
        message: &'static str,
        mut merge: impl FnMut(Field<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut reader = f.message()?;
        while let Some(field) = reader.next_field()? {
            let number = field.number;
            merge(field).map_err(|e| e.within(message, number))?;
        }
        Ok(())
    }
}

/// Encoding helpers called by the generated `Encode` impls, one per field shape.
#[doc(hidden)]
pub mod en {
    use super::*;

    /// A required (plain) field: always written.
    pub fn value<T: Leaf>(out: &mut Vec<u8>, number: u32, v: &T) {
        v.encode_leaf(number, out);
    }

    /// An optional field Go holds by pointer: written when set.
    pub fn opt<T: Leaf>(out: &mut Vec<u8>, number: u32, v: &Option<T>) {
        if let Some(v) = v {
            v.encode_leaf(number, out);
        }
    }

    /// An optional field Go holds by value: always written, zero when unset.
    pub fn opt_value<T: Leaf>(out: &mut Vec<u8>, number: u32, v: &Option<T>) {
        match v {
            Some(v) => v.encode_leaf(number, out),
            None => T::zero().encode_leaf(number, out),
        }
    }

    pub fn repeated<T: Leaf>(out: &mut Vec<u8>, number: u32, v: &[T]) {
        for item in v {
            item.encode_leaf(number, out);
        }
    }

    pub fn opt_repeated<T: Leaf>(out: &mut Vec<u8>, number: u32, v: &Option<Vec<T>>) {
        repeated(out, number, v.as_deref().unwrap_or_default());
    }

    pub fn map<V: Leaf>(out: &mut Vec<u8>, number: u32, v: &BTreeMap<String, V>) {
        for (key, value) in v {
            put_message(out, number, |out| {
                key.encode_leaf(special::MAP_KEY, out);
                value.encode_leaf(special::MAP_VALUE, out);
            });
        }
    }

    pub fn opt_map<V: Leaf>(out: &mut Vec<u8>, number: u32, v: &Option<BTreeMap<String, V>>) {
        if let Some(v) = v {
            map(out, number, v);
        }
    }

    fn item_message(out: &mut Vec<u8>, number: u32, v: &[String], items: u32) {
        put_message(out, number, |out| repeated(out, items, v));
    }

    pub fn items(out: &mut Vec<u8>, number: u32, v: &[String], items: u32) {
        item_message(out, number, v, items);
    }

    pub fn opt_items(out: &mut Vec<u8>, number: u32, v: &Option<Vec<String>>, items: u32) {
        if let Some(v) = v {
            item_message(out, number, v, items);
        }
    }

    pub fn map_items(
        out: &mut Vec<u8>,
        number: u32,
        v: &BTreeMap<String, Vec<String>>,
        items: u32,
    ) {
        for (key, value) in v {
            put_message(out, number, |out| {
                key.encode_leaf(special::MAP_KEY, out);
                item_message(out, special::MAP_VALUE, value, items);
            });
        }
    }

    pub fn opt_map_items(
        out: &mut Vec<u8>,
        number: u32,
        v: &Option<BTreeMap<String, Vec<String>>>,
        items: u32,
    ) {
        if let Some(v) = v {
            map_items(out, number, v, items);
        }
    }

    /// An embedded struct: Go holds it by value and always writes it.
    pub fn inline(out: &mut Vec<u8>, number: u32, body: impl FnOnce(&mut Vec<u8>)) {
        put_message(out, number, body);
    }
}

// ---------------------------------------------------------------------------------------
// Public entry points

/// Splits a protobuf body into (apiVersion, kind, object message bytes), after checking
/// the magic. Like Kubernetes, an empty body or one that is only the magic is refused;
/// the kind or apiVersion may be empty (the caller may default them from the URL).
pub fn decode_unknown(body: &[u8]) -> Result<(String, String, &[u8])> {
    let data = match body {
        [] => return Err(ErrorKind::EmptyData.into()),
        b if !b.starts_with(&MAGIC) => return Err(ErrorKind::NotProtobuf.into()),
        b if b.len() == MAGIC.len() => return Err(ErrorKind::EmptyBody.into()),
        b => &b[MAGIC.len()..],
    };
    let mut reader = Reader::new(data, 0);
    let (mut api_version, mut kind, mut raw): (String, String, &[u8]) =
        (String::new(), String::new(), &[]);
    let within = |e: ProtobufError, n| e.within("runtime.Unknown", n);
    while let Some(f) = reader.next_field()? {
        let n = f.number;
        match n {
            unknown::TYPE_META => {
                let mut type_meta = f.message().map_err(|e| within(e, n))?;
                while let Some(t) = type_meta.next_field().map_err(|e| within(e, n))? {
                    let m = t.number;
                    let at = |e: ProtobufError| within(e.within("runtime.TypeMeta", m), n);
                    match m {
                        unknown::API_VERSION => {
                            api_version = String::decode_leaf(&t).map_err(at)?
                        }
                        unknown::KIND => kind = String::decode_leaf(&t).map_err(at)?,
                        _ => {}
                    }
                }
            }
            unknown::RAW => raw = f.bytes().map_err(|e| within(e, n))?,
            unknown::CONTENT_ENCODING | unknown::CONTENT_TYPE => {
                // Kubernetes ignores both when decoding; their wire type is still checked.
                f.bytes().map_err(|e| within(e, n))?;
            }
            _ => {}
        }
    }
    Ok((api_version, kind, raw))
}

/// Decodes an object message (the `raw` of the envelope) into a generated type.
pub fn decode<T: Decode>(raw: &[u8]) -> Result<T> {
    let mut value = T::default();
    merge_fields(&mut value, Reader::new(raw, 0))?;
    Ok(value)
}

/// Decodes `raw` as the given kind into the JSON that Kubernetes would write for it,
/// `apiVersion` and `kind` included. Covers every kind of the served groups, and the
/// shared kinds (DeleteOptions, WatchEvent) under every apiVersion they are listed for.
pub fn decode_kind(api_version: &str, kind: &str, raw: &[u8]) -> Result<serde_json::Value> {
    decode_kind_at(api_version, kind, raw, 0)
}

/// Decodes a whole body: magic, envelope, then the object by its kind.
pub fn decode_body(body: &[u8]) -> Result<serde_json::Value> {
    let (api_version, kind, raw) = decode_unknown(body)?;
    decode_kind(&api_version, &kind, raw)
}

fn decode_kind_at(
    api_version: &str,
    kind: &str,
    raw: &[u8],
    depth: usize,
) -> Result<serde_json::Value> {
    if depth > MAX_DEPTH {
        return Err(ErrorKind::TooDeep.into());
    }
    if kind.is_empty() {
        return Err(ErrorKind::MissingKind.into());
    }
    let mut value =
        crate::api::decode_protobuf_kind(api_version, kind, raw, depth).ok_or_else(|| {
            ProtobufError::new(ErrorKind::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })
        })??;
    if let Some(object) = value.as_object_mut() {
        object.insert("apiVersion".into(), api_version.into());
        object.insert("kind".into(), kind.into());
    }
    Ok(value)
}

/// Decodes `raw` as `T` at the given depth and writes it as JSON (for the kind table).
#[doc(hidden)]
pub fn decode_json_at<T: Decode + serde::Serialize>(
    raw: &[u8],
    depth: usize,
) -> Result<serde_json::Value> {
    let mut value = T::default();
    merge_fields(&mut value, Reader::new(raw, depth))?;
    serde_json::to_value(&value)
        .map_err(|e| ProtobufError::invalid(format!("writing the object as JSON: {e}")))
}

/// Encodes a generated type as its message (the `raw` of the envelope).
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode_fields(&mut out);
    out
}

/// Encodes a whole body: magic and envelope around the object's message, as Kubernetes
/// writes it (content encoding and type empty).
pub fn encode_unknown(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_message(&mut out, unknown::TYPE_META, |out| {
        put_bytes(out, unknown::API_VERSION, api_version.as_bytes());
        put_bytes(out, unknown::KIND, kind.as_bytes());
    });
    put_bytes(&mut out, unknown::RAW, raw);
    put_bytes(&mut out, unknown::CONTENT_ENCODING, b"");
    put_bytes(&mut out, unknown::CONTENT_TYPE, b"");
    out
}

/// Encodes a top-level object as a whole body.
pub fn encode_object<T: Encode + crate::Resource>(value: &T) -> Vec<u8> {
    encode_unknown(T::API_VERSION, T::KIND, &encode(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u32, value: WireValue<'_>) -> Field<'_> {
        Field {
            number,
            value,
            depth: 0,
        }
    }

    #[test]
    fn varints_match_go() {
        let mut out = Vec::new();
        (-1i32).encode_leaf(1, &mut out);
        // int32 -1 is ten bytes on the wire, sign-extended.
        assert_eq!(out.len(), 1 + 10);
        let mut r = Reader::new(&out, 0);
        let f = r.next_field().unwrap().unwrap();
        assert_eq!(i32::decode_leaf(&f).unwrap(), -1);
        assert_eq!(i64::decode_leaf(&f).unwrap(), -1);
        // Eleven bytes is too many.
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        let err = Reader::new(&long, 0).next_field().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::VarintOverflow);
        // A value past i32 is truncated to its low 32 bits, as Go's int32 decode does.
        let f = field(1, WireValue::Varint(0x1_0000_0005));
        assert_eq!(i32::decode_leaf(&f).unwrap(), 5);
    }

    #[test]
    fn truncated_and_illegal_input_is_an_error() {
        for (bytes, kind) in [
            (&[0x0a, 0x05, b'a'][..], ErrorKind::Truncated),
            (&[0x00][..], ErrorKind::IllegalTag(0)),
            (&[0x0e][..], ErrorKind::InvalidWireType(6)),
            (&[0x0c][..], ErrorKind::InvalidWireType(4)),
            (&[0x0b, 0x10, 0x01][..], ErrorKind::UnterminatedGroup),
            (&[0x09, 1, 2][..], ErrorKind::Truncated),
        ] {
            let err = Reader::new(bytes, 0).next_field().unwrap_err();
            assert_eq!(err.kind(), &kind, "{bytes:?}");
        }
        // A group is skipped whole, nested groups included.
        let group = [0x0b, 0x13, 0x08, 0x01, 0x14, 0x0c, 0x10, 0x07];
        let mut r = Reader::new(&group, 0);
        assert_eq!(r.next_field().unwrap().unwrap().value, WireValue::Group);
        assert_eq!(r.next_field().unwrap().unwrap().value, WireValue::Varint(7));
        assert!(r.next_field().unwrap().is_none());
    }

    #[test]
    fn wrong_wire_types_are_errors() {
        let f = field(1, WireValue::Varint(1));
        assert!(matches!(
            String::decode_leaf(&f).unwrap_err().kind(),
            ErrorKind::WrongWireType { found: 0, .. }
        ));
        let f = field(1, WireValue::Bytes(b"x"));
        assert!(i32::decode_leaf(&f).is_err());
        assert!(f64::decode_leaf(&f).is_err());
        assert!(Quantity::decode_leaf(&f).is_err());
    }

    #[test]
    fn packed_and_unpacked_repeated_scalars() {
        let mut out = Vec::new();
        // Unpacked 1, then packed [2, 300].
        out.extend_from_slice(&[0x08, 0x01, 0x0a, 0x03, 0x02, 0xac, 0x02]);
        let mut r = Reader::new(&out, 0);
        let mut list: Vec<i32> = Vec::new();
        while let Some(f) = r.next_field().unwrap() {
            de::repeated(&mut list, f).unwrap();
        }
        assert_eq!(list, vec![1, 2, 300]);
        let mut floats: Vec<f64> = Vec::new();
        assert!(push_repeated(&mut floats, &field(1, WireValue::Bytes(&[0; 7]))).is_err());
    }

    #[test]
    fn special_types_round_trip() {
        let mut out = Vec::new();
        Quantity::parse("1536Mi").unwrap().encode_leaf(1, &mut out);
        IntOrString::String("http".into()).encode_leaf(2, &mut out);
        IntOrString::Int(-3).encode_leaf(3, &mut out);
        Time(1_700_000_000).encode_leaf(4, &mut out);
        MicroTime(1_700_000_000_123_456).encode_leaf(5, &mut out);
        MicroTime(-1).encode_leaf(6, &mut out);
        Time::zero().encode_leaf(7, &mut out);
        let json: JsonValue = serde_json::from_str(r#"{"a":[1,2.5,null]}"#).unwrap();
        json.encode_leaf(8, &mut out);
        let mut r = Reader::new(&out, 0);
        let mut next = || r.next_field().unwrap().unwrap();
        assert_eq!(
            Quantity::decode_leaf(&next()).unwrap().to_string(),
            "1536Mi"
        );
        assert_eq!(
            IntOrString::decode_leaf(&next()).unwrap(),
            IntOrString::String("http".into())
        );
        assert_eq!(
            IntOrString::decode_leaf(&next()).unwrap(),
            IntOrString::Int(-3)
        );
        assert_eq!(Time::decode_leaf(&next()).unwrap(), Time(1_700_000_000));
        assert_eq!(
            MicroTime::decode_leaf(&next()).unwrap(),
            MicroTime(1_700_000_000_123_456)
        );
        assert_eq!(MicroTime::decode_leaf(&next()).unwrap(), MicroTime(-1));
        let zero = next();
        assert_eq!(zero.value, WireValue::Bytes(&[]));
        let mut t = None;
        de::opt::<Time>(&mut t, zero).unwrap();
        assert_eq!(t, None, "the zero time is unset");
        assert_eq!(JsonValue::decode_leaf(&next()).unwrap(), json);
    }

    #[test]
    fn special_type_errors() {
        let mut out = Vec::new();
        put_message(&mut out, 1, |o| put_bytes(o, 1, b"12 apples"));
        put_message(&mut out, 2, |o| 7i64.encode_leaf(1, o));
        put_message(&mut out, 3, |o| put_bytes(o, 1, b"{not json"));
        put_message(&mut out, 4, |o| i64::MAX.encode_leaf(1, o));
        let mut r = Reader::new(&out, 0);
        let mut next = || r.next_field().unwrap().unwrap();
        assert!(Quantity::decode_leaf(&next()).is_err());
        assert!(IntOrString::decode_leaf(&next()).is_err());
        assert!(JsonValue::decode_leaf(&next()).is_err());
        assert!(MicroTime::decode_leaf(&next()).is_err());
    }

    #[test]
    fn micro_time_truncates_nanoseconds_towards_zero() {
        let mut out = Vec::new();
        put_message(&mut out, 1, |o| {
            10i64.encode_leaf(1, o);
            1_999i32.encode_leaf(2, o);
        });
        let f = Reader::new(&out, 0).next_field().unwrap().unwrap();
        assert_eq!(MicroTime::decode_leaf(&f).unwrap(), MicroTime(10_000_001));
    }

    #[test]
    fn envelope_checks_and_round_trip() {
        assert_eq!(
            decode_unknown(b"").unwrap_err().kind(),
            &ErrorKind::EmptyData
        );
        assert_eq!(
            decode_unknown(b"{}").unwrap_err().kind(),
            &ErrorKind::NotProtobuf
        );
        assert_eq!(
            decode_unknown(b"k8s\0").unwrap_err().kind(),
            &ErrorKind::EmptyBody
        );
        let body = encode_unknown("apps/v1", "Deployment", &[0x0a, 0x00]);
        let (av, kind, raw) = decode_unknown(&body).unwrap();
        assert_eq!(
            (av.as_str(), kind.as_str(), raw),
            ("apps/v1", "Deployment", &[0x0a, 0x00][..])
        );
        let err = decode_kind("v1", "NoSuchKind", &[]).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::UnknownKind { .. }));
        assert_eq!(
            decode_kind("v1", "", &[]).unwrap_err().kind(),
            &ErrorKind::MissingKind
        );
    }

    /// `JSONSchemaProps.not`: a schema directly inside a schema.
    const NOT_FIELD: u32 = 28;

    /// `levels` schemas, each in the `not` of the one outside it.
    fn nested_schemas(levels: usize) -> Vec<u8> {
        let mut nested: Vec<u8> = Vec::new();
        for _ in 0..levels {
            let mut outer = Vec::new();
            put_bytes(&mut outer, NOT_FIELD, &nested);
            nested = outer;
        }
        nested
    }

    #[test]
    fn nesting_is_bounded() {
        type Schema = crate::api::apiextensions::v1::JSONSchemaProps;
        // The top-level message is depth 0, so MAX_DEPTH nested ones are the most allowed.
        let ok = decode::<Schema>(&nested_schemas(MAX_DEPTH)).expect("MAX_DEPTH levels decode");
        let mut depth = 0;
        let mut at = &ok;
        while let Some(inner) = &at.not {
            depth += 1;
            at = inner;
        }
        assert_eq!(depth, MAX_DEPTH);
        // Writing the deepest accepted object as JSON fits on a test thread's stack too.
        let json = decode_json_at::<Schema>(&nested_schemas(MAX_DEPTH), 0).expect("JSON");
        assert!(json.get("not").is_some());
        let err = decode::<Schema>(&nested_schemas(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::TooDeep);
        assert!(
            err.path()
                .starts_with("JSONSchemaProps.28 > JSONSchemaProps.28")
        );
        // Far deeper input is refused just the same, without exhausting the stack.
        let err = decode::<Schema>(&nested_schemas(5_000)).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::TooDeep);
    }
}
