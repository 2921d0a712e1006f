//! Validation of a custom resource against its structural schema, as kube-openapi's
//! `validate.SchemaValidator` does it for the API server (`pkg/apiserver/validation`),
//! including the error paths and messages, the "best failing branch" choice of
//! `anyOf`/`oneOf`, and validation ratcheting on update (`CRDValidationRatcheting`, on
//! by default in 1.33: an unchanged, correlatable value keeps passing).
//!
//! CEL rules (`x-kubernetes-validations`) are not evaluated: [`cel_rules_not_evaluated`]
//! lists the rules that would have applied to an object, so callers can say so.

use serde_json::{Map, Value};

use super::formats::Format;
use super::gofmt::{GoNum, error_value, go_float, go_num};
use super::structural::{AdditionalProperties, NestedValueValidation, Structural, ValueValidation};
use crate::admission::field::{ErrorList, FieldError, Path, Raw, go_quote};

/// The `in` of every kube-openapi message about a custom resource.
const IN: &str = "body";

/// kube-openapi's error codes (`errors.Validation.Code`) that matter to the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    Other,
}

/// A value carried by a kube-openapi error, printed as `field.Error` prints it.
#[derive(Clone, Debug)]
enum Bad {
    None,
    Json(Value),
    Str(String),
    Int(i64),
}

impl Bad {
    fn render(&self) -> String {
        match self {
            Bad::None => go_quote(""),
            Bad::Json(v) => error_value(v),
            Bad::Str(s) => go_quote(s),
            Bad::Int(i) => i.to_string(),
        }
    }
}

/// One kube-openapi error: a `*errors.Validation` (with a name) or a composite message.
#[derive(Clone, Debug)]
struct VErr {
    code: Option<Code>,
    name: String,
    message: String,
    value: Bad,
    valid: i64,
    values: Vec<Value>,
}

impl VErr {
    fn new(code: Code, name: &str, message: String, value: Bad) -> VErr {
        VErr {
            code: Some(code),
            name: name.to_string(),
            message,
            value,
            valid: -1,
            values: Vec::new(),
        }
    }

    fn composite(message: String) -> VErr {
        VErr {
            code: None,
            name: String::new(),
            message,
            value: Bad::None,
            valid: -1,
            values: Vec::new(),
        }
    }
}

/// `validate.Result`: errors (unique by message) and the match count that decides which
/// failing `anyOf`/`oneOf` branch is reported.
#[derive(Default, Debug)]
struct Res {
    errors: Vec<VErr>,
    count: usize,
}

impl Res {
    fn add(&mut self, e: VErr) {
        if !self.errors.iter().any(|x| x.message == e.message) {
            self.errors.push(e);
        }
    }

    fn err(e: VErr) -> Res {
        Res {
            errors: vec![e],
            count: 0,
        }
    }

    fn merge(&mut self, other: Res) {
        for e in other.errors {
            self.add(e);
        }
        self.count += other.count;
    }

    fn valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A schema node being validated: a structural node or a nested value validation.
#[derive(Clone, Copy)]
enum Node<'a> {
    S(&'a Structural),
    N(&'a NestedValueValidation),
}

impl<'a> Node<'a> {
    fn vv(self) -> Option<&'a ValueValidation> {
        match self {
            Node::S(s) => s.value_validation.as_deref(),
            Node::N(n) => Some(&n.value_validation),
        }
    }

    /// The `type` list: `[integer string]` for int-or-string.
    fn types(self) -> Vec<&'a str> {
        let (t, ios) = match self {
            Node::S(s) => (s.generic.type_.as_str(), s.extensions.int_or_string),
            Node::N(n) => (
                n.forbidden_generics.type_.as_str(),
                n.forbidden_extensions.int_or_string,
            ),
        };
        if ios {
            vec!["integer", "string"]
        } else if t.is_empty() {
            Vec::new()
        } else {
            vec![t]
        }
    }

    fn nullable(self) -> bool {
        match self {
            Node::S(s) => s.generic.nullable,
            Node::N(n) => n.forbidden_generics.nullable,
        }
    }

    fn items(self) -> Option<Node<'a>> {
        match self {
            Node::S(s) => s.items.as_deref().map(Node::S),
            Node::N(n) => n.items.as_deref().map(Node::N),
        }
    }

    fn property(self, k: &str) -> Option<Node<'a>> {
        match self {
            Node::S(s) => s.properties.get(k).map(Node::S),
            Node::N(n) => n.properties.get(k).map(Node::N),
        }
    }

    fn property_names(self) -> Vec<&'a String> {
        match self {
            Node::S(s) => s.properties.keys().collect(),
            Node::N(n) => n.properties.keys().collect(),
        }
    }

    /// `additionalProperties`: None when unset, `Some(Err(allows))` for a boolean,
    /// `Some(Ok(schema))` for a schema.
    fn additional(self) -> Option<Result<Node<'a>, bool>> {
        match self {
            Node::S(s) => s.additional_properties.as_ref().map(|a| match a {
                AdditionalProperties::Bool(b) => Err(*b),
                AdditionalProperties::Schema(x) => Ok(Node::S(x)),
            }),
            Node::N(n) => n.additional_properties.as_ref().map(|a| match a {
                AdditionalProperties::Bool(b) => Err(*b),
                AdditionalProperties::Schema(x) => Ok(Node::N(x)),
            }),
        }
    }
}

/// The format Kubernetes keeps after stripping unsupported ones (`""` when stripped).
fn effective_format(vv: Option<&ValueValidation>) -> (&str, Option<Format>) {
    match vv {
        Some(v) if !v.format.is_empty() => match Format::parse(&v.format) {
            Some(f) => (v.format.as_str(), Some(f)),
            None => ("", None),
        },
        _ => ("", None),
    }
}

/// The old value correlated with the node being validated, and the structural schema
/// that decides how its children correlate (`common.CorrelatedObject`).
#[derive(Clone, Copy)]
struct Corr<'a> {
    old: &'a Value,
    schema: &'a Structural,
}

impl<'a> Corr<'a> {
    /// `Key(field)`: both values objects holding `field`, and a schema for it.
    fn key(self, new: &Value, field: &str) -> Option<Corr<'a>> {
        let old = self.old.as_object()?.get(field)?;
        new.as_object()?.get(field)?;
        let schema = self.schema.child(field)?;
        Some(Corr { old, schema })
    }

    /// `Index(i)`: only map-type lists correlate items, by their key fields (`old_index`
    /// is the old list indexed by key, built once per list with [`Corr::list_index`]).
    fn index(self, new: &Value, i: usize, old_index: Option<&ListIndex<'a>>) -> Option<Corr<'a>> {
        let item = new.as_array()?.get(i)?;
        let index = old_index?;
        let schema = self.schema.items.as_deref()?;
        let key = map_key(item, &self.schema.extensions.list_map_keys)?;
        let old = *index.get(&key)?;
        Some(Corr { old, schema })
    }

    /// The old value of a map-type list, indexed by item key; None for other lists.
    fn list_index(self) -> Option<ListIndex<'a>> {
        if self.schema.extensions.list_type.as_deref() != Some("map") {
            return None;
        }
        let keys = &self.schema.extensions.list_map_keys;
        let mut index = ListIndex::new();
        for o in self.old.as_array()? {
            if let Some(k) = map_key(o, keys) {
                index.entry(k).or_insert(o);
            }
        }
        Some(index)
    }

    /// `CachedDeepEqual`: equal values, comparing map-type lists by key and objects only
    /// through correlatable (schema-known) keys.
    fn equal(self, new: &Value) -> bool {
        match (self.old, new) {
            (Value::Array(o), Value::Array(n)) => {
                if o.len() != n.len() {
                    return false;
                }
                let index = self.list_index();
                for i in 0..n.len() {
                    match self.index(new, i, index.as_ref()) {
                        Some(c) => {
                            if !c.equal(&n[i]) {
                                return false;
                            }
                        }
                        None if index.is_some() => return false,
                        None => return o == n,
                    }
                }
                true
            }
            (Value::Object(o), Value::Object(n)) => {
                o.len() == n.len()
                    && n.iter().all(|(k, v)| match self.key(new, k) {
                        Some(c) => c.equal(v),
                        None => false,
                    })
            }
            (Value::Array(_), _) | (_, Value::Array(_)) => false,
            (Value::Object(_), _) | (_, Value::Object(_)) => false,
            (o, n) => o == n,
        }
    }
}

/// An old map-type list by item key.
type ListIndex<'a> = std::collections::HashMap<String, &'a Value>;

/// The key of a map-type list item: its key fields' values (absent ones as null), as
/// JSON text; None for an item that is not an object.
fn map_key(item: &Value, keys: &[String]) -> Option<String> {
    let m = item.as_object()?;
    let tuple: Vec<&Value> = keys
        .iter()
        .map(|k| m.get(k).unwrap_or(&Value::Null))
        .collect();
    serde_json::to_string(&tuple).ok()
}

/// `IsFloat64AJSONInteger`: an integral float within ±(2^53-1), allowing a relative
/// error below 1e-9.
fn is_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX_JSON_FLOAT..=MAX_JSON_FLOAT).contains(&f) {
        return false;
    }
    let r = f.round();
    if f == r {
        return true;
    }
    if r == 0.0 {
        return false;
    }
    (f - r).abs() < 1e-9 * r.abs()
}

/// Go's `int64(f)` for a float64 (saturating where Go's result is unspecified).
fn go_int(f: f64) -> i64 {
    f as i64
}

struct Walker;

impl Walker {
    /// A validator created through `NewValidatorForField`/`NewValidatorForIndex`: with a
    /// correlation, errors of a value equal to its old value are dropped (ratcheting).
    fn validate(node: Node<'_>, data: &Value, path: &str, corr: Option<Corr<'_>>) -> Res {
        let res = Walker::validate_plain(node, data, path, corr);
        match corr {
            Some(c) if !res.valid() && c.equal(data) => Res {
                errors: Vec::new(),
                count: res.count,
            },
            _ => res,
        }
    }

    /// `SchemaValidator.Validate`.
    fn validate_plain(node: Node<'_>, data: &Value, path: &str, corr: Option<Corr<'_>>) -> Res {
        let vv = node.vv();
        let types = node.types();
        let (format_name, format) = effective_format(vv);
        if data.is_null() {
            let mut res = Res {
                errors: Vec::new(),
                count: 1,
            };
            if !types.is_empty() && !node.nullable() {
                res = Res::err(VErr::new(
                    Code::InvalidType,
                    path,
                    type_fail(path, &types.join(","), "null"),
                    Bad::Str("null".to_string()),
                ));
            }
            res.merge(Walker::common(vv, data, path));
            return res;
        }
        let mut res = Res::default();
        if !types.is_empty() || !format_name.is_empty() {
            res.merge(Walker::type_check(&types, format_name, data, path));
            res.count += 1;
        }
        res.merge(Walker::schema_props(vv, data, path, corr));
        res.count += 1;
        if let Value::String(s) = data {
            res.merge(Walker::string(vv, s, path));
            res.count += 1;
            if let Some(f) = format {
                if !f.validates(s) {
                    res.add(VErr::new(
                        Code::InvalidType,
                        path,
                        type_fail(path, format_name, s),
                        Bad::Json(data.clone()),
                    ));
                }
                res.count += 1;
            }
        }
        if let Value::Number(n) = data {
            res.merge(Walker::number(vv, go_num(n), data, path));
            res.count += 1;
        }
        if let Value::Array(items) = data {
            res.merge(Walker::slice(node, vv, items, data, path, corr));
            res.count += 1;
        }
        res.merge(Walker::common(vv, data, path));
        res.count += 1;
        if let Value::Object(map) = data {
            res.merge(Walker::object(node, vv, map, data, path, corr));
            res.count += 1;
        }
        res.count += 1;
        res
    }

    /// `typeValidator`.
    fn type_check(types: &[&str], t_format: &str, data: &Value, path: &str) -> Res {
        let (sch_type, format) = match data {
            Value::Bool(_) => ("boolean", ""),
            Value::String(_) => ("string", ""),
            Value::Number(n) => match go_num(n) {
                GoNum::Int(_) => ("integer", "int64"),
                GoNum::Float(_) => ("number", "float64"),
            },
            Value::Array(_) => ("array", ""),
            Value::Object(_) => ("object", ""),
            Value::Null => ("null", ""),
        };
        let has = |t: &str| types.contains(&t);
        let is_float_int = matches!(data, Value::Number(n) if matches!(go_num(n), GoNum::Float(f) if is_json_integer(f)))
            && has("integer");
        let is_int_float = sch_type == "integer" && has("number");
        let stringish = matches!(data, Value::String(_) | Value::Array(_));
        let compatible = has(sch_type) || format == t_format || is_float_int || is_int_float;
        if !(stringish || t_format.is_empty() || compatible) {
            return Res::err(VErr::new(
                Code::InvalidType,
                path,
                type_fail(path, t_format, format),
                Bad::Str(format.to_string()),
            ));
        }
        let numeric = has("number") || has("integer");
        if stringish && !(numeric || t_format.is_empty()) {
            return Res {
                errors: Vec::new(),
                count: 1,
            };
        }
        if !(has(sch_type) || is_float_int || is_int_float) {
            return Res::err(VErr::new(
                Code::InvalidType,
                path,
                type_fail(path, &types.join(","), sch_type),
                Bad::Str(sch_type.to_string()),
            ));
        }
        Res {
            errors: Vec::new(),
            count: 1,
        }
    }

    /// `schemaPropsValidator`: anyOf, oneOf, allOf, not.
    fn schema_props(
        vv: Option<&ValueValidation>,
        data: &Value,
        path: &str,
        corr: Option<Corr<'_>>,
    ) -> Res {
        let mut main = Res::default();
        let Some(vv) = vv else {
            main.count += 1;
            return main;
        };
        if !vv.any_of.is_empty() {
            let mut best: Option<Res> = None;
            let mut first_success: Option<Res> = None;
            for n in &vv.any_of {
                let r = Walker::validate_plain(Node::N(n), data, path, corr);
                if r.valid() {
                    best = None;
                    first_success = Some(r);
                    break;
                }
                if best.as_ref().is_none_or(|b| r.count > b.count) {
                    best = Some(r);
                }
            }
            if first_success.is_none() {
                main.add(VErr::composite(format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(path)
                )));
            }
            if let Some(b) = best {
                main.merge(b);
            } else if let Some(f) = first_success {
                main.merge(f);
            }
        }
        if !vv.one_of.is_empty() {
            let mut best: Option<Res> = None;
            let mut first_success: Option<Res> = None;
            let mut validated = 0;
            for n in &vv.one_of {
                let r = Walker::validate_plain(Node::N(n), data, path, corr);
                if r.valid() {
                    validated += 1;
                    best = None;
                    if first_success.is_none() {
                        first_success = Some(r);
                    }
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| r.count > b.count) {
                    best = Some(r);
                }
            }
            if validated != 1 {
                let extra = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                main.add(VErr::composite(format!(
                    "{} must validate one and only one schema (oneOf). {extra}",
                    go_quote(path)
                )));
                if let Some(b) = best {
                    main.merge(b);
                }
            } else if let Some(f) = first_success {
                main.merge(f);
            }
        }
        if !vv.all_of.is_empty() {
            let mut validated = 0;
            for n in &vv.all_of {
                let r = Walker::validate_plain(Node::N(n), data, path, corr);
                if r.valid() {
                    validated += 1;
                }
                main.merge(r);
            }
            if validated != vv.all_of.len() {
                let extra = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                main.add(VErr::composite(format!(
                    "{} must validate all the schemas (allOf){extra}",
                    go_quote(path)
                )));
            }
        }
        if let Some(n) = &vv.not
            && Walker::validate_plain(Node::N(n), data, path, corr).valid()
        {
            main.add(VErr::composite(format!(
                "{} must not validate the schema (not)",
                go_quote(path)
            )));
        }
        main.count += 1;
        main
    }

    /// `stringValidator`: the first failing of maxLength, minLength, pattern (lengths in
    /// characters).
    fn string(vv: Option<&ValueValidation>, s: &str, path: &str) -> Res {
        let Some(vv) = vv else {
            return Res::default();
        };
        let len = s.chars().count() as i64;
        let data = || Bad::Json(Value::String(s.to_string()));
        if let Some(max) = vv.max_length
            && len > max
        {
            let mut e = VErr::new(
                Code::TooLong,
                path,
                format!("{path} in {IN} should be at most {max} chars long"),
                data(),
            );
            e.valid = max;
            return Res::err(e);
        }
        if let Some(min) = vv.min_length
            && len < min
        {
            return Res::err(VErr::new(
                Code::Other,
                path,
                format!("{path} in {IN} should be at least {min} chars long"),
                data(),
            ));
        }
        if let Some(p) = &vv.pattern {
            let shown = match &p.compiled {
                Ok(re) if re.is_match(s) => return Res::default(),
                Ok(_) => p.source.clone(),
                Err(e) => format!("{}, but pattern is invalid: {e}", p.source),
            };
            return Res::err(VErr::new(
                Code::Other,
                path,
                format!("{path} in {IN} should match '{shown}'"),
                data(),
            ));
        }
        Res::default()
    }

    /// `numberValidator`: multipleOf, minimum, maximum, each in Go's native arithmetic
    /// (an integer value compares against the bound truncated to an integer).
    fn number(vv: Option<&ValueValidation>, n: GoNum, data: &Value, path: &str) -> Res {
        let mut res = Res {
            errors: Vec::new(),
            count: 1,
        };
        let Some(vv) = vv else {
            return res;
        };
        let bad = || Bad::Json(data.clone());
        if let Some(factor) = vv.multiple_of {
            let err = match n {
                GoNum::Int(i) => {
                    let f = go_int(factor);
                    if f <= 0 {
                        Some(must_be_positive(path, &f.to_string(), Bad::Int(f)))
                    } else if i % f != 0 {
                        Some(VErr::new(
                            Code::Other,
                            path,
                            format!("{path} in {IN} should be a multiple of {f}"),
                            bad(),
                        ))
                    } else {
                        None
                    }
                }
                GoNum::Float(x) => {
                    if factor <= 0.0 {
                        Some(must_be_positive(
                            path,
                            &go_float(factor),
                            Bad::Json(float_value(factor)),
                        ))
                    } else {
                        let mult = if factor < 1.0 {
                            1.0 / factor * x
                        } else {
                            x / factor
                        };
                        (!is_json_integer(mult)).then(|| {
                            VErr::new(
                                Code::Other,
                                path,
                                format!(
                                    "{path} in {IN} should be a multiple of {}",
                                    go_float(factor)
                                ),
                                bad(),
                            )
                        })
                    }
                }
            };
            if let Some(e) = err {
                res.add(e);
            }
        }
        if let Some(min) = vv.minimum {
            let ex = vv.exclusive_minimum;
            let (fails, shown) = match n {
                GoNum::Int(i) => {
                    let m = go_int(min);
                    (if ex { i <= m } else { i < m }, m.to_string())
                }
                GoNum::Float(x) => (if ex { x <= min } else { x < min }, go_float(min)),
            };
            if fails {
                let rel = if ex {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                res.add(VErr::new(
                    Code::Other,
                    path,
                    format!("{path} in {IN} should be {rel} {shown}"),
                    bad(),
                ));
            }
        }
        if let Some(max) = vv.maximum {
            let ex = vv.exclusive_maximum;
            let (fails, shown) = match n {
                GoNum::Int(i) => {
                    let m = go_int(max);
                    (if ex { i >= m } else { i > m }, m.to_string())
                }
                GoNum::Float(x) => (if ex { x >= max } else { x > max }, go_float(max)),
            };
            if fails {
                let rel = if ex {
                    "less than"
                } else {
                    "less than or equal to"
                };
                res.add(VErr::new(
                    Code::Other,
                    path,
                    format!("{path} in {IN} should be {rel} {shown}"),
                    bad(),
                ));
            }
        }
        res
    }

    /// `schemaSliceValidator`: items, then minItems, maxItems, uniqueItems.
    fn slice(
        node: Node<'_>,
        vv: Option<&ValueValidation>,
        items: &[Value],
        data: &Value,
        path: &str,
        corr: Option<Corr<'_>>,
    ) -> Res {
        let mut res = Res::default();
        if let Some(item_node) = node.items() {
            let index = corr.and_then(Corr::list_index);
            for (i, v) in items.iter().enumerate() {
                let c = corr.and_then(|c| c.index(data, i, index.as_ref()));
                res.merge(Walker::validate(item_node, v, &format!("{path}[{i}]"), c));
            }
        }
        if let Some(vv) = vv {
            let size = items.len() as i64;
            if let Some(min) = vv.min_items
                && size < min
            {
                res.add(VErr::new(
                    Code::Other,
                    path,
                    format!("{path} in {IN} should have at least {min} items"),
                    Bad::Int(size),
                ));
            }
            if let Some(max) = vv.max_items
                && size > max
            {
                let mut e = VErr::new(
                    Code::MaxItems,
                    path,
                    format!("{path} in {IN} should have at most {max} items"),
                    Bad::Int(size),
                );
                e.valid = max;
                res.add(e);
            }
            if vv.unique_items
                && items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].iter().any(|b| b == a))
            {
                res.add(VErr::new(
                    Code::Other,
                    path,
                    format!("{path} in {IN} shouldn't contain duplicates"),
                    Bad::None,
                ));
            }
        }
        res.count += 1;
        res
    }

    /// `basicCommonValidator`: enum, compared after Go's type conversion of the value to
    /// each allowed value's type (so `3.0` matches `3`; null never matches).
    fn common(vv: Option<&ValueValidation>, data: &Value, path: &str) -> Res {
        let Some(vv) = vv else {
            return Res::default();
        };
        if vv.enum_.is_empty() || vv.enum_.iter().any(|e| enum_matches(data, e)) {
            return Res::default();
        }
        let mut e = VErr::new(
            Code::Enum,
            path,
            format!("{path} in {IN} should be one of {}", go_list(&vv.enum_)),
            Bad::Json(data.clone()),
        );
        e.values = vv.enum_.clone();
        Res::err(e)
    }

    /// `objectValidator`: min/maxProperties, additionalProperties, properties, required.
    fn object(
        node: Node<'_>,
        vv: Option<&ValueValidation>,
        map: &Map<String, Value>,
        data: &Value,
        path: &str,
        corr: Option<Corr<'_>>,
    ) -> Res {
        let mut res = Res::default();
        let n = map.len() as i64;
        if let Some(vv) = vv {
            if let Some(min) = vv.min_properties
                && n < min
            {
                res.add(VErr::new(
                    Code::Other,
                    path,
                    format!("{path} in {IN} should have at least {min} properties"),
                    Bad::Int(n),
                ));
            }
            if let Some(max) = vv.max_properties
                && n > max
            {
                let mut e = VErr::new(
                    Code::TooManyProperties,
                    path,
                    format!("{path} in {IN} should have at most {max} properties"),
                    Bad::Int(n),
                );
                e.valid = max;
                res.add(e);
            }
        }
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        match node.additional() {
            Some(Err(false)) => {
                for k in &keys {
                    if node.property(k).is_none() {
                        res.add(VErr::new(
                            Code::Other,
                            path,
                            format!("{path}.{k} in {IN} is a forbidden property"),
                            Bad::Str((*k).clone()),
                        ));
                    }
                }
            }
            Some(Ok(ap)) => {
                for k in &keys {
                    if node.property(k).is_none() {
                        let c = corr.and_then(|c| c.key(data, k));
                        res.merge(Walker::validate(ap, &map[*k], &format!("{path}.{k}"), c));
                    }
                }
            }
            _ => {}
        }
        for name in node.property_names() {
            if let (Some(v), Some(p)) = (map.get(name), node.property(name)) {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                let type_meta = path.is_empty() && (name == "kind" || name == "apiVersion");
                let c = corr.filter(|_| !type_meta).and_then(|c| c.key(data, name));
                res.merge(Walker::validate(p, v, &child, c));
            }
        }
        if let Some(vv) = vv {
            for k in &vv.required {
                if !map.contains_key(k) {
                    let name = format!("{path}.{k}");
                    res.add(VErr::new(
                        Code::Required,
                        &name,
                        format!("{name} in {IN} is required"),
                        Bad::None,
                    ));
                }
            }
        }
        res
    }
}

fn must_be_positive(path: &str, factor: &str, value: Bad) -> VErr {
    VErr::new(
        Code::Other,
        path,
        format!("factor MultipleOf declared for {path} must be positive: {factor}"),
        value,
    )
}

fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `%s in body must be of type %s: %q`.
fn type_fail(path: &str, type_name: &str, value: &str) -> String {
    format!(
        "{path} in {IN} must be of type {type_name}: {}",
        go_quote(value)
    )
}

/// `%v` of a `[]interface{}` of enum values.
fn go_list(values: &[Value]) -> String {
    let parts: Vec<String> = values.iter().map(super::gofmt::go_v).collect();
    format!("[{}]", parts.join(" "))
}

/// Whether `data` equals `allowed` after converting it to `allowed`'s Go type.
fn enum_matches(data: &Value, allowed: &Value) -> bool {
    match (data, allowed) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(d), Value::Number(a)) => match (go_num(d), go_num(a)) {
            (GoNum::Int(x), GoNum::Int(y)) => x == y,
            (GoNum::Float(x), GoNum::Int(y)) => go_int(x) == y,
            (GoNum::Int(x), GoNum::Float(y)) => x as f64 == y,
            (GoNum::Float(x), GoNum::Float(y)) => x == y,
        },
        // Go converts an integer to the string of that code point.
        (Value::Number(d), Value::String(a)) => match go_num(d) {
            GoNum::Int(i) => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                a.chars().eq(std::iter::once(c))
            }
            GoNum::Float(_) => false,
        },
        (d, a) => d == a,
    }
}

/// A supported value of a `field.NotSupported` error: strings as they are, anything else
/// as Go marshals it to JSON.
fn enum_value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => {
            let j: clipper_proto::JsonValue = other.clone().into();
            serde_json::to_string(&j).unwrap_or_default()
        }
    }
}

/// `kubeOpenAPIResultToFieldErrors`.
fn to_field_errors(errors: Vec<VErr>, prefix: Option<&Path>) -> ErrorList {
    let root = || prefix.cloned().unwrap_or_else(|| Path::new("<nil>"));
    errors
        .into_iter()
        .map(|e| {
            let Some(code) = e.code else {
                return FieldError::invalid(&root(), "", e.message);
            };
            let name = e.name.strip_prefix('.').unwrap_or(&e.name);
            let path = if name.is_empty() || e.name == "." {
                root()
            } else {
                match prefix {
                    Some(p) => p.child(name),
                    None => Path::new(name),
                }
            };
            match code {
                Code::Required => FieldError::required(&path, ""),
                Code::Enum => {
                    let texts: Vec<String> = e.values.iter().map(enum_value_text).collect();
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    FieldError::not_supported(&path, Raw(e.value.render()), &refs)
                }
                Code::TooLong => FieldError::too_long(&path, e.valid.max(0) as usize),
                Code::MaxItems | Code::TooManyProperties => {
                    let actual = match e.value {
                        Bad::Int(i) => i,
                        _ => -1,
                    };
                    FieldError::too_many(&path, actual.max(0) as usize, e.valid.max(0) as usize)
                }
                Code::InvalidType | Code::Other => {
                    FieldError::invalid(&path, Raw(e.value.render()), e.message)
                }
            }
        })
        .collect()
}

/// Validates `value` against `schema` as `ValidateCustomResource` does. `prefix` is the
/// path the schema applies at (None for a whole object; `status` for the status
/// subresource's schema). Errors at the schema's own root are reported at `<nil>` when
/// there is no prefix, as Kubernetes prints a nil path.
pub fn validate_value(schema: &Structural, value: &Value, prefix: Option<&Path>) -> ErrorList {
    let res = Walker::validate_plain(Node::S(schema), value, "", None);
    to_field_errors(res.errors, prefix)
}

/// [`validate_value`] for an update with ratcheting: errors of values that equal their
/// correlated old values are dropped (objects correlate by key, map-type lists by their
/// key fields; other lists only as a whole).
pub fn validate_value_update(
    schema: &Structural,
    new: &Value,
    old: &Value,
    prefix: Option<&Path>,
) -> ErrorList {
    let corr = Corr { old, schema };
    let res = Walker::validate(Node::S(schema), new, "", Some(corr));
    to_field_errors(res.errors, prefix)
}

/// A CEL rule (`x-kubernetes-validations`) that applied to a value but was not
/// evaluated: Clipper has no CEL engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedCelRule {
    /// The value the rule applies to, as Kubernetes would report a failure
    /// (`spec.replicas`, `<nil>` for the object itself).
    pub field: String,
    pub rule: String,
    pub message: Option<String>,
}

impl SkippedCelRule {
    /// A warning text for API responses.
    pub fn warning(&self) -> String {
        format!(
            "{}: x-kubernetes-validations rule {} was not evaluated: CEL validation is not supported",
            self.field,
            go_quote(&self.rule)
        )
    }
}

/// The CEL rules of `schema` that apply to values present in `value`, in schema order:
/// everything Kubernetes would have checked with CEL and Clipper did not.
pub fn cel_rules_not_evaluated(schema: &Structural, value: &Value) -> Vec<SkippedCelRule> {
    let mut out = Vec::new();
    cel_walk(schema, value, None, &mut out);
    out
}

fn cel_walk(s: &Structural, v: &Value, path: Option<&Path>, out: &mut Vec<SkippedCelRule>) {
    if v.is_null() {
        return;
    }
    let here = || path.map_or_else(|| "<nil>".to_string(), Path::to_string);
    for r in &s.x_validations {
        out.push(SkippedCelRule {
            field: here(),
            rule: r.rule.clone(),
            message: r.message.clone(),
        });
    }
    let child = |name: &str| match path {
        Some(p) => p.child(name),
        None => Path::new(name),
    };
    match v {
        Value::Object(map) => {
            for (k, p) in &s.properties {
                if let Some(x) = map.get(k) {
                    cel_walk(p, x, Some(&child(k)), out);
                }
            }
            if let Some(ap) = s
                .additional_properties
                .as_ref()
                .and_then(AdditionalProperties::schema)
            {
                for (k, x) in map {
                    if !s.properties.contains_key(k) {
                        let p = match path {
                            Some(p) => p.key(k),
                            None => Path::new(&format!("[{k}]")),
                        };
                        cel_walk(ap, x, Some(&p), out);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = &s.items {
                for (i, x) in items.iter().enumerate() {
                    let p = match path {
                        Some(p) => p.index(i),
                        None => Path::new(&format!("[{i}]")),
                    };
                    cel_walk(is, x, Some(&p), out);
                }
            }
        }
        _ => {}
    }
}
