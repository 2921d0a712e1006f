//! The JSONPath dialect of `k8s.io/client-go/util/jsonpath`, as CRD
//! `additionalPrinterColumns` use it: the inside of one `{...}` action, evaluated on a JSON
//! object with missing keys allowed.
//!
//! Supported: fields `.a.b` (with `\.` escaping a dot), `['key']`, `..` recursive descent,
//! wildcards `.*` and `[*]`, indexes and slices `[0]`, `[-1]`, `[1:3]`, `[::2]`, unions
//! `[0,2]`, filters `[?(@.type=="Ready")]` with `==`, `!=`, `<`, `>`, `<=`, `>=` on strings,
//! integers, floats and booleans (existence with `[?(@.x)]`), and literals. Not supported:
//! `range`/`end` (a path using them evaluates to an error, so the cell is empty) and text
//! outside the action (a `}` in a path is a parse error).
//!
//! Semantics follow client-go, including its quirks: an out-of-range index is an error, not an
//! empty result; `['a.b']` splits at the dot; comparing values of different types is an error.
//! Object members are visited in key order where Go's map order is random.

use std::borrow::Cow;

use serde_json::{Number, Value};

/// Longest path accepted; longer paths fail to parse (CRD columns are short dotted paths, and
/// the bound keeps parsing cheap on every request).
pub const MAX_PATH_LEN: usize = 4096;
/// Deepest nesting of filters, unions and bracketed keys (each re-enters the parser).
pub const MAX_NESTING: usize = 16;
/// Most values one step of an evaluation may produce; beyond it the evaluation fails (the
/// cell prints empty) rather than spending unbounded time on wildcards over large objects.
pub const MAX_RESULTS: usize = 65_536;

/// A parsed path.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    nodes: Vec<Node>,
}

/// Why a path does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// Why an evaluation failed (the printed cell is then empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError(pub String);

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SliceParam {
    value: i64,
    known: bool,
    derived: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FilterOp {
    Exists,
    Lt,
    Gt,
    Eq,
    Ne,
    Le,
    Ge,
    /// An operator made of `!<>=` that is none of the above; an error when evaluated.
    Unrecognized,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Field(String),
    Wildcard,
    Array([SliceParam; 3]),
    Union(Vec<Vec<Node>>),
    Filter {
        left: Vec<Node>,
        op: FilterOp,
        right: Vec<Node>,
    },
    Recursive,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Identifier(String),
}

impl JsonPath {
    /// Parses the inside of an action, e.g. `.status.conditions[?(@.type=="Ready")].status`.
    pub fn parse(path: &str) -> Result<JsonPath, ParseError> {
        if path.len() > MAX_PATH_LEN {
            return Err(ParseError(format!("path longer than {MAX_PATH_LEN} bytes")));
        }
        Ok(JsonPath {
            nodes: parse_action(path, 0)?,
        })
    }

    /// Every value the path selects in `data`, in order; empty when nothing matches.
    pub fn find<'a>(&self, data: &'a Value) -> Result<Vec<Cow<'a, Value>>, EvalError> {
        eval_list(vec![Cow::Borrowed(data)], &self.nodes)
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

struct Parser<'s> {
    input: &'s str,
    pos: usize,
    depth: usize,
    nodes: Vec<Node>,
}

fn parse_action(text: &str, depth: usize) -> Result<Vec<Node>, ParseError> {
    if depth > MAX_NESTING {
        return Err(ParseError(format!("nested more than {MAX_NESTING} levels")));
    }
    let mut p = Parser {
        input: text,
        pos: 0,
        depth,
        nodes: Vec::new(),
    };
    p.parse_inside()?;
    Ok(p.nodes)
}

/// Characters that end a field name or identifier.
fn is_terminator(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(
            c,
            ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
        ),
    }
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn parse_inside(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                return Err(ParseError("text after the action is not supported".into()));
            }
            if rest.starts_with("[?(") {
                self.parse_filter()?;
                continue;
            }
            if rest.starts_with("..") {
                self.parse_recursive()?;
                continue;
            }
            let start = self.pos;
            match self.next() {
                None => return Ok(()),
                Some('\r' | '\n') => return Err(ParseError("unclosed action".into())),
                Some(' ' | '@' | '$') => {}
                Some('[') => self.parse_array()?,
                Some(q @ ('"' | '\'')) => self.parse_quote(start, q)?,
                Some('.') => self.parse_field()?,
                Some(c) if c == '+' || c == '-' || c.is_numeric() => {
                    self.pos = start;
                    self.parse_number()?;
                }
                Some(c) if is_alphanumeric(c) => {
                    self.pos = start;
                    self.parse_identifier();
                }
                Some(c) => {
                    return Err(ParseError(format!(
                        "unrecognized character in action: {c:?}"
                    )));
                }
            }
        }
    }

    fn parse_recursive(&mut self) -> Result<(), ParseError> {
        if self.nodes.last() == Some(&Node::Recursive) {
            return Err(ParseError("invalid multiple recursive descent".into()));
        }
        self.pos += 2;
        self.nodes.push(Node::Recursive);
        if self.peek().is_some_and(is_alphanumeric) {
            self.parse_field()?;
        }
        Ok(())
    }

    /// After the `.`: up to the next unescaped terminator; backslashes are dropped.
    fn parse_field(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        loop {
            let c = self.peek();
            if c == Some('\\') {
                self.next();
                self.next();
            } else if is_terminator(c) {
                break;
            } else {
                self.next();
            }
        }
        let value = &self.input[start..self.pos];
        self.nodes.push(if value == "*" {
            Node::Wildcard
        } else {
            Node::Field(value.replace('\\', ""))
        });
        Ok(())
    }

    fn parse_identifier(&mut self) {
        let start = self.pos;
        while !is_terminator(self.peek()) {
            self.next();
        }
        let value = &self.input[start..self.pos];
        self.nodes.push(match value {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            _ => Node::Identifier(value.to_string()),
        });
    }

    fn parse_number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        while self.peek().is_some_and(|c| c == '.' || c.is_numeric()) {
            self.next();
        }
        let text = &self.input[start..self.pos];
        if let Ok(i) = text.parse::<i64>() {
            self.nodes.push(Node::Int(i));
        } else if let Some(f) = parse_go_float(text) {
            self.nodes.push(Node::Float(f));
        } else {
            return Err(ParseError(format!("cannot parse number {text}")));
        }
        Ok(())
    }

    /// After the opening quote: up to the matching unescaped quote, unquoted as Go does.
    fn parse_quote(&mut self, start: usize, quote: char) -> Result<(), ParseError> {
        loop {
            match self.next() {
                None | Some('\n') => return Err(ParseError("unterminated quoted string".into())),
                Some(c)
                    if c == quote
                        && self.input.as_bytes().get(self.pos.wrapping_sub(2)) != Some(&b'\\') =>
                {
                    break;
                }
                Some(_) => {}
            }
        }
        let quoted = &self.input[start..self.pos];
        let text =
            unquote(quoted).ok_or_else(|| ParseError(format!("unquote string {quoted} error")))?;
        self.nodes.push(Node::Text(text));
        Ok(())
    }

    /// After the `[`: an index, slice, union or `'key'`, up to the `]`.
    fn parse_array(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        loop {
            match self.next() {
                None | Some('\n') => return Err(ParseError("unterminated array".into())),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let mut text = &self.input[start..self.pos - 1];
        if text == "*" {
            text = ":";
        }
        if text.contains(',') {
            let union = text
                .split(',')
                .map(|part| parse_action(&format!("[{}]", part.trim_matches(' ')), self.depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            self.nodes.push(Node::Union(union));
            return Ok(());
        }
        if let Some(key) = text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .filter(|k| !k.contains('\''))
        {
            // client-go re-parses `['a.b']` as `.a.b`.
            let nodes = parse_action(&format!(".{key}"), self.depth + 1)?;
            self.nodes.extend(nodes);
            return Ok(());
        }
        self.nodes.push(Node::Array(parse_slice(text)?));
        Ok(())
    }

    /// After `[?(`: the filter expression up to `)]`.
    fn parse_filter(&mut self) -> Result<(), ParseError> {
        self.pos += 3;
        let start = self.pos;
        let (mut begin, mut end) = (false, false);
        let mut pair = '"';
        loop {
            match self.next() {
                None | Some('\n') => return Err(ParseError("unterminated filter".into())),
                Some(q @ ('"' | '\'')) => {
                    if !begin {
                        begin = true;
                        pair = q;
                        continue;
                    }
                    if self.input.as_bytes().get(self.pos.wrapping_sub(2)) != Some(&b'\\')
                        && q == pair
                    {
                        end = true;
                    }
                }
                Some(')') if begin == end => break,
                Some(_) => {}
            }
        }
        if self.next() != Some(']') {
            return Err(ParseError("unclosed array expect ]".into()));
        }
        let text = &self.input[start..self.pos - 2];
        let node = match split_comparison(text) {
            None => Node::Filter {
                left: parse_action(text, self.depth + 1)?,
                op: FilterOp::Exists,
                right: Vec::new(),
            },
            Some((left, op, right)) => Node::Filter {
                left: parse_action(left, self.depth + 1)?,
                op: match op {
                    "<" => FilterOp::Lt,
                    ">" => FilterOp::Gt,
                    "==" => FilterOp::Eq,
                    "!=" => FilterOp::Ne,
                    "<=" => FilterOp::Le,
                    ">=" => FilterOp::Ge,
                    _ => FilterOp::Unrecognized,
                },
                right: parse_action(right, self.depth + 1)?,
            },
        };
        self.nodes.push(node);
        Ok(())
    }
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '!' | '<' | '>' | '=')
}

/// client-go's `^([^!<>=]+)([!<>=]+)(.+?)$`: a non-empty left side, a run of operator
/// characters, a non-empty right side (taking the run's last character if nothing follows it).
fn split_comparison(text: &str) -> Option<(&str, &str, &str)> {
    let op_start = text.find(is_operator_char)?;
    if op_start == 0 {
        return None;
    }
    let after = &text[op_start..];
    let run = after
        .find(|c: char| !is_operator_char(c))
        .unwrap_or(after.len());
    let run = if run == after.len() {
        run.checked_sub(1).filter(|r| *r > 0)?
    } else {
        run
    };
    Some((&text[..op_start], &after[..run], &after[run..]))
}

/// `[start:end:step]`, each part `-?\d*`; a lone index `[i]` means `[i:i+1]`.
fn parse_slice(text: &str) -> Result<[SliceParam; 3], ParseError> {
    let invalid = || ParseError(format!("invalid array index {text}"));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 || !parts.iter().all(|p| is_signed_digits(p)) {
        return Err(invalid());
    }
    let number = |p: &str| {
        p.parse::<i64>()
            .map_err(|_| ParseError(format!("array index {p} is not a number")))
    };
    let unknown = SliceParam {
        value: 0,
        known: false,
        derived: false,
    };
    let param = |p: &str| -> Result<SliceParam, ParseError> {
        if p.is_empty() {
            Ok(unknown)
        } else {
            Ok(SliceParam {
                value: number(p)?,
                known: true,
                derived: false,
            })
        }
    };
    let first = param(parts[0])?;
    let second = match parts.get(1) {
        Some(p) => param(p)?,
        None => SliceParam {
            value: first.value.saturating_add(1),
            known: true,
            derived: true,
        },
    };
    let third = match parts.get(2) {
        Some(p) => param(p)?,
        None => unknown,
    };
    Ok([first, second, third])
}

fn is_signed_digits(s: &str) -> bool {
    s.strip_prefix('-')
        .unwrap_or(s)
        .bytes()
        .all(|b| b.is_ascii_digit())
}

/// Go's `strconv.ParseFloat` on what the number scanner accepts (sign, digits, dots).
fn parse_go_float(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return None;
    }
    text.parse::<f64>().ok()
}

/// Go's `strconv.Unquote`, extended to single-quoted strings.
fn unquote(quoted: &str) -> Option<String> {
    let quote = quoted.chars().next()?;
    let inner = quoted.strip_prefix(quote)?.strip_suffix(quote)?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next()?;
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Option<u32> {
            let s: String = chars.by_ref().take(n).collect();
            if s.len() == n {
                u32::from_str_radix(&s, 16).ok()
            } else {
                None
            }
        };
        match escaped {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' if escaped == quote => out.push(escaped),
            'x' => out.push(char::from_u32(hex(&mut chars, 2)?)?),
            'u' => out.push(char::from_u32(hex(&mut chars, 4)?)?),
            'U' => out.push(char::from_u32(hex(&mut chars, 8)?)?),
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let code = u32::from_str_radix(&format!("{escaped}{rest}"), 8)
                    .ok()
                    .filter(|c| *c <= 255)?;
                if rest.len() != 2 {
                    return None;
                }
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Evaluation

type Values<'a> = Vec<Cow<'a, Value>>;

fn bounded(values: Values<'_>) -> Result<Values<'_>, EvalError> {
    if values.len() > MAX_RESULTS {
        return Err(EvalError(format!("more than {MAX_RESULTS} results")));
    }
    Ok(values)
}

fn eval_list<'a>(input: Values<'a>, nodes: &[Node]) -> Result<Values<'a>, EvalError> {
    let mut current = input;
    for node in nodes {
        current = bounded(walk(current, node)?)?;
    }
    Ok(current)
}

/// The members or elements of a document value (literals have none).
fn children<'a>(value: &Cow<'a, Value>) -> Values<'a> {
    match value {
        Cow::Borrowed(Value::Object(map)) => map.values().map(Cow::Borrowed).collect(),
        Cow::Borrowed(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
        _ => Vec::new(),
    }
}

fn walk<'a>(input: Values<'a>, node: &Node) -> Result<Values<'a>, EvalError> {
    match node {
        Node::Field(name) => Ok(input
            .iter()
            .filter_map(|v| match v {
                Cow::Borrowed(Value::Object(map)) => map.get(name.as_str()).map(Cow::Borrowed),
                _ => None,
            })
            .collect()),
        Node::Wildcard => Ok(input.iter().flat_map(children).collect()),
        Node::Array(params) => eval_array(input, params),
        Node::Union(lists) => {
            let mut out = Vec::new();
            for list in lists {
                out.extend(eval_list(input.clone(), list)?);
                out = bounded(out)?;
            }
            Ok(out)
        }
        Node::Filter { left, op, right } => eval_filter(input, left, *op, right),
        Node::Recursive => {
            let mut out = Vec::new();
            recurse(input, &mut out)?;
            Ok(out)
        }
        Node::Text(text) => Ok(vec![Cow::Owned(Value::String(text.clone()))]),
        Node::Int(i) => Ok(input.iter().map(|_| Cow::Owned(Value::from(*i))).collect()),
        Node::Float(f) => Ok(input
            .iter()
            .map(|_| Cow::Owned(Number::from_f64(*f).map_or(Value::Null, Value::Number)))
            .collect()),
        Node::Bool(b) => Ok(input.iter().map(|_| Cow::Owned(Value::Bool(*b))).collect()),
        Node::Identifier(name) => Err(EvalError(format!("unsupported identifier {name}"))),
    }
}

/// `..`: every container (object or non-empty array) below and including each input, in
/// pre-order.
fn recurse<'a>(input: Values<'a>, out: &mut Values<'a>) -> Result<(), EvalError> {
    for value in input {
        let kids = children(&value);
        if !kids.is_empty() {
            out.push(value);
            if out.len() > MAX_RESULTS {
                return Err(EvalError(format!("more than {MAX_RESULTS} results")));
            }
            recurse(kids, out)?;
        }
    }
    Ok(())
}

fn eval_array<'a>(input: Values<'a>, params: &[SliceParam; 3]) -> Result<Values<'a>, EvalError> {
    let mut result = Vec::new();
    for value in input {
        let items = match value {
            Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => continue,
            Cow::Borrowed(Value::Array(items)) => items,
            other => {
                return Err(EvalError(format!(
                    "{} is not array or slice",
                    type_name(&other)
                )));
            }
        };
        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let [mut first, mut second, third] = *params;
        if !first.known {
            first.value = 0;
        }
        if first.value < 0 {
            first.value += len;
        }
        if !second.known {
            second.value = len;
        }
        if second.value < 0 || (second.value == 0 && second.derived) {
            second.value += len;
        }
        if second.value == first.value {
            // client-go returns what it has so far, skipping the remaining inputs.
            return Ok(result);
        }
        if first.value >= len || first.value < 0 {
            return Err(EvalError(format!(
                "array index out of bounds: index {}, length {len}",
                first.value
            )));
        }
        if second.value > len || second.value < 0 {
            return Err(EvalError(format!(
                "array index out of bounds: index {}, length {len}",
                second.value - 1
            )));
        }
        if first.value > second.value {
            return Err(EvalError(format!(
                "starting index {} is greater than ending index {}",
                first.value, second.value
            )));
        }
        let step = if third.known {
            if third.value <= 0 {
                return Err(EvalError("step must be > 0".into()));
            }
            usize::try_from(third.value).unwrap_or(usize::MAX)
        } else {
            1
        };
        // In range by the checks above.
        let (from, to) = (
            usize::try_from(first.value).unwrap_or(0),
            usize::try_from(second.value).unwrap_or(0),
        );
        result.extend(items[from..to].iter().step_by(step).map(Cow::Borrowed));
    }
    Ok(result)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "map",
    }
}

fn eval_filter<'a>(
    input: Values<'a>,
    left: &[Node],
    op: FilterOp,
    right: &[Node],
) -> Result<Values<'a>, EvalError> {
    let mut results = Vec::new();
    for value in input {
        let items = match value {
            Cow::Borrowed(Value::Array(items)) => items,
            other => {
                return Err(EvalError(format!(
                    "{} is not array or slice and cannot be filtered",
                    type_name(&other)
                )));
            }
        };
        for item in items {
            let element = vec![Cow::Borrowed(item)];
            let lefts = eval_list(element.clone(), left);
            if op == FilterOp::Exists {
                if lefts.is_ok_and(|l| !l.is_empty()) {
                    results.push(Cow::Borrowed(item));
                }
                continue;
            }
            let lefts = lefts?;
            let left_value = match lefts.as_slice() {
                [] => continue,
                [one] => one,
                _ => return Err(EvalError("can only compare one element at a time".into())),
            };
            let rights = eval_list(element, right)?;
            let right_value = match rights.as_slice() {
                [] => continue,
                [one] => one,
                _ => return Err(EvalError("can only compare one element at a time".into())),
            };
            if compare(left_value, right_value, op)? {
                results.push(Cow::Borrowed(item));
            }
        }
    }
    Ok(results)
}

/// A value as Go's template comparison functions classify it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Basic<'v> {
    Int(i64),
    Float(f64),
    Str(&'v str),
    Bool(bool),
}

fn basic(v: &Value) -> Result<Basic<'_>, EvalError> {
    match v {
        Value::Bool(b) => Ok(Basic::Bool(*b)),
        Value::String(s) => Ok(Basic::Str(s)),
        // Kubernetes decodes JSON numbers to int64 when they fit, else float64.
        Value::Number(n) => Ok(n
            .as_i64()
            .map_or_else(|| Basic::Float(n.as_f64().unwrap_or(f64::NAN)), Basic::Int)),
        _ => Err(EvalError("invalid type for comparison".into())),
    }
}

fn equal(a: Basic<'_>, b: Basic<'_>) -> Result<bool, EvalError> {
    match (a, b) {
        (Basic::Int(x), Basic::Int(y)) => Ok(x == y),
        (Basic::Float(x), Basic::Float(y)) => Ok(x == y),
        (Basic::Str(x), Basic::Str(y)) => Ok(x == y),
        (Basic::Bool(x), Basic::Bool(y)) => Ok(x == y),
        _ => Err(EvalError("incompatible types for comparison".into())),
    }
}

fn less(a: Basic<'_>, b: Basic<'_>) -> Result<bool, EvalError> {
    match (a, b) {
        (Basic::Int(x), Basic::Int(y)) => Ok(x < y),
        (Basic::Float(x), Basic::Float(y)) => Ok(x < y),
        (Basic::Str(x), Basic::Str(y)) => Ok(x < y),
        (Basic::Bool(_), Basic::Bool(_)) => Err(EvalError("invalid type for comparison".into())),
        _ => Err(EvalError("incompatible types for comparison".into())),
    }
}

fn compare(left: &Value, right: &Value, op: FilterOp) -> Result<bool, EvalError> {
    let (a, b) = (basic(left)?, basic(right)?);
    match op {
        FilterOp::Eq => equal(a, b),
        FilterOp::Ne => equal(a, b).map(|e| !e),
        FilterOp::Lt => less(a, b),
        FilterOp::Le => Ok(less(a, b)? || equal(a, b)?),
        FilterOp::Gt => Ok(!(less(a, b)? || equal(a, b)?)),
        FilterOp::Ge => less(a, b).map(|l| !l),
        FilterOp::Exists => Ok(true),
        FilterOp::Unrecognized => Err(EvalError("unrecognized filter operator".into())),
    }
}

// ---------------------------------------------------------------------------------------
// Printing values as client-go does

/// The text client-go prints for a value in a `string` column: strings as they are, numbers
/// and booleans as Go's `fmt` prints them, objects and arrays as compact JSON (Go's
/// `encoding/json`: sorted keys, HTML characters escaped), JSON null as `<no value>`.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float_v(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Array(_) | Value::Object(_) => {
            let mut out = String::new();
            go_json(value, &mut out);
            out
        }
    }
}

/// Splits a finite float into its shortest decimal digits and the exponent of the first
/// digit (`1234.5` → ("12345", 3)).
fn shortest_digits(f: f64) -> (String, i32) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    (mantissa.replace('.', ""), exponent.parse().unwrap_or(0))
}

/// `%e` with the shortest digits, Go style: `1.5e+06`, `1e-07`.
fn go_exponent_form(f: f64, digits: &str, exp: i32) -> String {
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (head, tail) = digits.split_at(1);
    let dot = if tail.is_empty() {
        String::new()
    } else {
        format!(".{tail}")
    };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{head}{dot}e{exp_sign}{:02}", exp.unsigned_abs())
}

/// Go's `fmt.Sprint` of a float64 (`%v`, i.e. `strconv.FormatFloat(f, 'g', -1, 64)`): the
/// shortest digits, in exponent form when the exponent is below -4 or at least 6.
fn go_float_v(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return if f.is_sign_negative() && f == 0.0 {
            "-0".into()
        } else {
            f.to_string()
        };
    }
    let (digits, exp) = shortest_digits(f);
    if !(-4..6).contains(&exp) {
        go_exponent_form(f, &digits, exp)
    } else {
        f.to_string()
    }
}

/// Go's `encoding/json` form of a float64: plain from 1e-6 up to 1e21, else exponent form
/// with a one-digit negative exponent written without its leading zero (`1e-7`).
fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return f.to_string();
    }
    let (digits, exp) = shortest_digits(f);
    let s = go_exponent_form(f, &digits, exp);
    if (-9..0).contains(&exp) {
        s.replacen("e-0", "e-", 1)
    } else {
        s
    }
}

/// Go's `encoding/json.Marshal` of decoded JSON: compact, object keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped.
fn go_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&go_json_float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => go_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(key, out);
                out.push(':');
                if let Some(v) = map.get(key) {
                    go_json(v, out);
                }
            }
            out.push('}');
        }
    }
}

fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn first(path: &str, data: &Value) -> Option<Value> {
        let p = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        p.find(data)
            .ok()
            .and_then(|r| r.first().map(|v| v.clone().into_owned()))
    }

    fn object() -> Value {
        json!({
            "metadata": {"name": "db", "labels": {"app.kubernetes.io/name": "pg", "tier": "data"}},
            "spec": {"replicas": 3, "ratio": 0.25, "paused": false, "image": null,
                     "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis:7"}]},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "priority": 2},
                {"type": "Synced", "status": "False", "priority": 10}
            ]}
        })
    }

    #[test]
    fn paths_select_what_client_go_selects() {
        let o = object();
        let cases: &[(&str, Option<Value>)] = &[
            (".spec.replicas", Some(json!(3))),
            (".metadata.name", Some(json!("db"))),
            (".spec.missing", None),
            (".spec.missing.deeper", None),
            (
                ".status.conditions[?(@.type==\"Ready\")].status",
                Some(json!("True")),
            ),
            (
                ".status.conditions[?(@.type=='Synced')].status",
                Some(json!("False")),
            ),
            (
                ".status.conditions[?(@.type == \"Ready\")].status",
                Some(json!("True")),
            ),
            (
                ".status.conditions[?(@.type!=\"Ready\")].type",
                Some(json!("Synced")),
            ),
            (
                ".status.conditions[?(@.priority>5)].type",
                Some(json!("Synced")),
            ),
            (
                ".status.conditions[?(@.priority<=2)].type",
                Some(json!("Ready")),
            ),
            (".status.conditions[?(@.missing)].type", None),
            (
                ".status.conditions[?(@.priority)].type",
                Some(json!("Ready")),
            ),
            (".spec.containers[1].image", Some(json!("redis:7"))),
            (".spec.containers[-1].name", Some(json!("b"))),
            (".spec.containers[*].image", Some(json!("nginx:1"))),
            (".spec.containers[0:1].name", Some(json!("a"))),
            (".spec.containers[1,0].name", Some(json!("b"))),
            (
                ".metadata.labels.app\\.kubernetes\\.io/name",
                Some(json!("pg")),
            ),
            (".metadata.labels['tier']", Some(json!("data"))),
            // Pre-order over containers, members in key order: spec.image (null) comes first.
            ("..image", Some(Value::Null)),
            ("..name", Some(json!("db"))),
            (".spec.image", Some(Value::Null)),
            ("", Some(object())),
        ];
        for (path, want) in cases {
            assert_eq!(first(path, &o), *want, "{path}");
        }
    }

    #[test]
    fn evaluation_errors_are_errors_not_values() {
        let o = object();
        for path in [
            ".spec.containers[5].name",                       // out of range
            ".spec.replicas[0]",                              // not an array
            ".status.conditions[?(@.priority==\"2\")].type",  // int vs string
            ".status.conditions[?(@.status<true)].type",      // bool ordering
            ".spec.containers[0:2:0].name",                   // zero step
            ".status.conditions[?(@.type=\"Ready\")].status", // unknown operator
            ".spec.range",                                    // field named range is fine...
        ] {
            let p = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let r = p.find(&o);
            if path == ".spec.range" {
                assert_eq!(r, Ok(vec![]), "{path}");
            } else {
                assert!(r.is_err(), "{path}: {r:?}");
            }
        }
        // An identifier (range/end) is unsupported at evaluation.
        assert!(
            JsonPath::parse("range")
                .and_then(|p| p.find(&o).map_err(|e| ParseError(e.0)))
                .is_err()
        );
    }

    #[test]
    fn malformed_paths_do_not_parse() {
        for path in [
            ".a[",
            ".a[x]",
            ".a[?(@.b==\"c\"",
            ".a}",
            "....a",
            ".a[1:2:3:4]",
            "\n",
            "#",
        ] {
            assert!(JsonPath::parse(path).is_err(), "{path}");
        }
        assert!(JsonPath::parse(&".a".repeat(MAX_PATH_LEN)).is_err());
        let nested = format!(".a{}", "['b']".repeat(3));
        assert!(JsonPath::parse(&nested).is_ok());
        // As in client-go, `=` is not a terminator: this is an existence test of field `b=`.
        assert!(JsonPath::parse(".a[?(@.b=)]").is_ok());
        // The nesting guard (client-go's grammar barely nests; the guard is defensive).
        assert!(parse_action(".a", MAX_NESTING).is_ok());
        assert!(parse_action(".a", MAX_NESTING + 1).is_err());
    }

    #[test]
    fn recursive_descent_and_wildcards_are_bounded() {
        let big = Value::Array((0..MAX_RESULTS + 1).map(|i| json!({"v": i})).collect());
        let p = JsonPath::parse(".*").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.find(&big).is_err());
        let p = JsonPath::parse("..v").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.find(&big).is_err());
        let small = json!([{"v": 1}, {"w": {"v": 2}}]);
        let found: Vec<Value> = p
            .find(&small)
            .unwrap_or_default()
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        assert_eq!(found, vec![json!(1), json!(2)]);
    }

    #[test]
    fn values_print_as_go_prints_them() {
        let cases = [
            (json!("text"), "text"),
            (json!(true), "true"),
            (json!(42), "42"),
            (json!(-7), "-7"),
            (json!(0.25), "0.25"),
            (json!(1.5e-5), "1.5e-05"),
            (json!(123456.5), "123456.5"),
            (json!(1234567.5), "1.2345675e+06"),
            (json!(0.0001), "0.0001"),
            (json!(1e21), "1e+21"),
            (Value::Null, "<no value>"),
            (
                json!({"b": [1, 2.5], "a": "<x&y>"}),
                r#"{"a":"\u003cx\u0026y\u003e","b":[1,2.5]}"#,
            ),
            (json!([1e-7, 1e22, "é\n"]), r#"[1e-7,1e+22,"é\n"]"#),
        ];
        for (value, want) in cases {
            assert_eq!(value_text(&value), want, "{value}");
        }
    }

    #[test]
    fn quoted_literals_unescape_like_go() {
        assert_eq!(unquote(r#""a\"b""#).as_deref(), Some("a\"b"));
        assert_eq!(unquote(r"'it\'s'").as_deref(), Some("it's"));
        assert_eq!(unquote(r#""\u00e9\x41\101\n""#).as_deref(), Some("éAA\n"));
        assert_eq!(unquote(r#""bad\q""#), None);
        assert_eq!(unquote(r#""a"b""#), None);
    }
}
