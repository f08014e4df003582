//! The OTTL boolean-condition subset used by `ottl_condition` policies: comparisons and
//! `IsMatch` on span name, kind, status code, span and resource attributes, and span event name
//! and attributes, combined with `and`, `or`, `not` and parentheses. Comparison semantics follow
//! OTTL: a missing attribute is `nil`; values of different types are never equal; ints and
//! doubles compare by value; strings compare lexically.

mod parse;

use super::raw::{Event, RawValue};
use crate::otlp::model::AttrValue;
use crate::otlp::Span;
use regex::Regex;
use std::cmp::Ordering;

pub use parse::parse;

/// Which OTTL context a condition is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Span,
    SpanEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        }
    }
}

/// What a path reads.
#[derive(Debug, Clone)]
pub enum Path {
    SpanName,
    SpanKind,
    SpanKindString,
    SpanStatusCode,
    /// Index in the interest's span keys.
    SpanAttr(u16),
    /// Index in the interest's resource keys.
    ResourceAttr(u16),
    EventName,
    EventAttr(Box<[u8]>),
}

#[derive(Debug, Clone)]
pub enum Value {
    Path(Path),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    IsMatch(Box<Value>, Regex),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Cond {
    Or(Vec<Cond>),
    And(Vec<Cond>),
    Not(Box<Cond>),
    Bool(bool),
    Cmp(Box<Value>, Op, Box<Value>),
    Match(Box<Value>, Regex),
}

/// A value at evaluation time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum V<'a> {
    Nil,
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Maps, arrays, bytes: only ever unequal to other values here.
    Other,
}

/// What a condition is evaluated on: a span, and for span event conditions one of its events.
pub struct Scope<'a> {
    pub span: &'a Span,
    pub event: Option<&'a Event<'a>>,
}

fn from_attr(v: Option<&AttrValue>) -> V<'_> {
    match v {
        None => V::Nil,
        Some(AttrValue::Str(b)) => std::str::from_utf8(b).map_or(V::Other, V::Str),
        Some(AttrValue::Int(i)) => V::Int(*i),
        Some(AttrValue::Double(d)) => V::Float(*d),
        Some(AttrValue::Bool(b)) => V::Bool(*b),
        Some(AttrValue::Other) => V::Other,
    }
}

fn from_raw(v: Option<RawValue<'_>>) -> V<'_> {
    match v {
        None => V::Nil,
        Some(RawValue::Str(s)) => V::Str(s),
        Some(RawValue::Int(i)) => V::Int(i),
        Some(RawValue::Double(d)) => V::Float(d),
        Some(RawValue::Bool(b)) => V::Bool(b),
        Some(RawValue::Other) => V::Other,
    }
}

fn kind_string(kind: u8) -> &'static str {
    match kind {
        1 => "Internal",
        2 => "Server",
        3 => "Client",
        4 => "Producer",
        5 => "Consumer",
        _ => "Unspecified",
    }
}

/// OTTL's comparison: nils equal each other only; other mixed types are only ever unequal.
fn compare(a: V, op: Op, b: V) -> bool {
    match (a, b) {
        (V::Nil, V::Nil) => matches!(op, Op::Eq | Op::Le | Op::Ge),
        (V::Nil, _) | (_, V::Nil) => op == Op::Ne,
        (V::Str(x), V::Str(y)) => op.holds(x.cmp(y)),
        (V::Int(x), V::Int(y)) => op.holds(x.cmp(&y)),
        (V::Int(x), V::Float(y)) => float_cmp(x as f64, op, y),
        (V::Float(x), V::Int(y)) => float_cmp(x, op, y as f64),
        (V::Float(x), V::Float(y)) => float_cmp(x, op, y),
        (V::Bool(x), V::Bool(y)) => match op {
            Op::Eq => x == y,
            Op::Ne => x != y,
            _ => false,
        },
        _ => op == Op::Ne,
    }
}

fn float_cmp(x: f64, op: Op, y: f64) -> bool {
    x.partial_cmp(&y).map_or(op == Op::Ne, |o| op.holds(o))
}

/// `IsMatch` target as text (OTTL's string conversion); `None` never matches.
fn as_text(v: V<'_>) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        V::Str(s) => Some(s.into()),
        V::Int(i) => Some(i.to_string().into()),
        V::Float(f) => Some(f.to_string().into()),
        V::Bool(b) => Some(b.to_string().into()),
        V::Nil | V::Other => None,
    }
}

impl Value {
    fn eval<'a>(&'a self, s: &Scope<'a>) -> V<'a> {
        match self {
            Value::Str(x) => V::Str(x),
            Value::Int(i) => V::Int(*i),
            Value::Float(f) => V::Float(*f),
            Value::Bool(b) => V::Bool(*b),
            Value::Nil => V::Nil,
            Value::IsMatch(t, re) => V::Bool(is_match(t, re, s)),
            Value::Path(p) => match p {
                Path::SpanName => V::Str(s.span.name()),
                Path::SpanKind => V::Int(s.span.kind as i64),
                Path::SpanKindString => V::Str(kind_string(s.span.kind)),
                Path::SpanStatusCode => V::Int(s.span.status as i64),
                Path::SpanAttr(i) => from_attr(s.span.attr(*i)),
                Path::ResourceAttr(i) => from_attr(s.span.resource_attr(*i)),
                Path::EventName => s.event.map_or(V::Nil, |e| V::Str(e.name)),
                Path::EventAttr(k) => s.event.map_or(V::Nil, |e| from_raw(e.attr(k))),
            },
        }
    }
}

fn is_match(target: &Value, re: &Regex, s: &Scope<'_>) -> bool {
    as_text(target.eval(s)).is_some_and(|t| re.is_match(&t))
}

impl Cond {
    pub fn eval(&self, s: &Scope<'_>) -> bool {
        match self {
            Cond::Or(cs) => cs.iter().any(|c| c.eval(s)),
            Cond::And(cs) => cs.iter().all(|c| c.eval(s)),
            Cond::Not(c) => !c.eval(s),
            Cond::Bool(b) => *b,
            Cond::Cmp(a, op, b) => compare(a.eval(s), *op, b.eval(s)),
            Cond::Match(t, re) => is_match(t, re, s),
        }
    }
}

#[cfg(test)]
mod tests;
