//! Lexer and parser of the OTTL condition subset. Anything outside the subset is an error that
//! names the construct (a function, a path, arithmetic, a map literal, ...).

use super::{Cond, Context, Op, Path, Value};
use crate::otlp::Interest;
use regex::Regex;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Op(Op),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Minus,
    /// `+`, `*`, `/`, `{`, `}`, `:`: recognized only to reject them by name.
    Unsupported(char),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => return Err("a string literal is not closed (missing `\"`)".into()),
                        Some('"') => break,
                        Some('\\') => {
                            match cs.get(i + 1) {
                                Some('"') => v.push('"'),
                                Some('\\') => v.push('\\'),
                                Some('n') => v.push('\n'),
                                Some('t') => v.push('\t'),
                                Some('r') => v.push('\r'),
                                Some(&o) => {
                                    v.push('\\');
                                    v.push(o)
                                }
                                None => return Err("a string literal is not closed".into()),
                            }
                            i += 1;
                        }
                        Some(&o) => v.push(o),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Tok::Str(v));
            }
            '0'..='9' => {
                let start = i;
                while i < cs.len() && (cs[i].is_ascii_digit() || cs[i] == '.') {
                    i += 1;
                }
                let text: String = cs[start..i].iter().collect();
                if text.contains('.') {
                    let f = text
                        .parse()
                        .map_err(|_| format!("`{text}` is not a number"))?;
                    out.push(Tok::Float(f));
                } else {
                    let n = text
                        .parse()
                        .map_err(|_| format!("`{text}` is out of range for an integer"))?;
                    out.push(Tok::Int(n));
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(cs[start..i].iter().collect()));
            }
            '=' | '!' | '<' | '>' => {
                let two = cs.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('=', true) => Op::Eq,
                    ('!', true) => Op::Ne,
                    ('<', true) => Op::Le,
                    ('>', true) => Op::Ge,
                    ('<', false) => Op::Lt,
                    ('>', false) => Op::Gt,
                    ('=', false) => {
                        return Err(
                            "`=` is not a comparison: write `==` (conditions cannot assign)".into(),
                        )
                    }
                    _ => return Err("`!` is not supported: write `not` or `!=`".into()),
                };
                out.push(Tok::Op(op));
                i += if two { 2 } else { 1 };
            }
            _ => {
                out.push(match c {
                    '.' => Tok::Dot,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '-' => Tok::Minus,
                    '+' | '*' | '/' | '{' | '}' | ':' => Tok::Unsupported(c),
                    other => return Err(format!("unexpected character `{other}`")),
                });
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Deepest nesting of parentheses, `not`s and function calls accepted in one condition: the
/// parser (and evaluation) recurse once per level, so a hostile condition nested 100,000 deep
/// is an error rather than a stack overflow.
pub const MAX_NESTING: u32 = 64;

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    depth: u32,
    ctx: Context,
    interest: &'a mut Interest,
}

/// Parses one condition of the given context, registering the attribute keys it reads.
pub fn parse(text: &str, ctx: Context, interest: &mut Interest) -> Result<Cond, String> {
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        ctx,
        interest,
    };
    let c = p.or()?;
    match p.peek() {
        None => Ok(c),
        Some(t) => Err(p.unexpected(t.clone())),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Int(n) => format!("`{n}`"),
        Tok::Float(f) => format!("`{f}`"),
        Tok::Op(o) => format!("`{}`", o.text()),
        Tok::Dot => "`.`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Minus => "`-`".into(),
        Tok::Unsupported(c) => format!("`{c}`"),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == k)
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(format!("expected {what}, found {}", describe(&t))),
            None => Err(format!("expected {what} at the end of the condition")),
        }
    }
    fn unexpected(&self, t: Tok) -> String {
        match t {
            Tok::Unsupported('{' | '}' | ':') => "map literals (`{...}`) are not supported".into(),
            Tok::Unsupported(c) => {
                format!("arithmetic (`{c}`) is not supported: compare values directly")
            }
            Tok::Minus => "arithmetic (`-`) is not supported: compare values directly".into(),
            Tok::LBracket => {
                "a list literal or a nested index (`[...][...]`) is not supported".into()
            }
            t => format!("unexpected {}", describe(&t)),
        }
    }

    /// Runs `f` one nesting level deeper.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "the condition is nested more than {MAX_NESTING} levels deep (parentheses, `not`, function calls)"
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Cond, String> {
        self.chain("or", Self::and, Cond::Or)
    }

    fn and(&mut self) -> Result<Cond, String> {
        self.chain("and", Self::not, Cond::And)
    }

    /// `operand (keyword operand)*`: the operand alone, or `combine` of all of them.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Cond, String>,
        combine: fn(Vec<Cond>) -> Cond,
    ) -> Result<Cond, String> {
        let mut parts = vec![operand(self)?];
        while self.keyword(keyword) {
            self.pos += 1;
            parts.push(operand(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            combine(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.nested(Self::not)?)));
        }
        self.term()
    }

    fn term(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let c = self.nested(Self::or)?;
            self.expect(Tok::RParen, "`)`")?;
            return Ok(c);
        }
        let start = self.pos;
        let left = self.value()?;
        if let Some(t @ (Tok::Unsupported(_) | Tok::Minus)) = self.peek().cloned() {
            return Err(self.unexpected(t));
        }
        if let Some(Tok::Op(op)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.value()?;
            return Ok(Cond::Cmp(Box::new(left), op, Box::new(right)));
        }
        match left {
            Value::Bool(b) => Ok(Cond::Bool(b)),
            Value::IsMatch(target, re) => Ok(Cond::Match(target, re)),
            Value::Path(_) => {
                let text = render(&self.toks[start..self.pos]);
                Err(format!(
                    "`{text}` alone is not a condition: compare it, e.g. `{text} == \"value\"`"
                ))
            }
            _ => Err(
                "a literal alone is not a condition: compare it with `==`, `!=`, `<`, ...".into(),
            ),
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        let t = self
            .next()
            .ok_or("a value is missing at the end of the condition")?;
        match t {
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::Int(n) => Ok(Value::Int(n)),
            Tok::Float(f) => Ok(Value::Float(f)),
            Tok::Minus => match self.next() {
                Some(Tok::Int(n)) => Ok(Value::Int(-n)),
                Some(Tok::Float(f)) => Ok(Value::Float(-f)),
                _ => Err("arithmetic (`-`) is not supported: compare values directly".into()),
            },
            Tok::Ident(id) => self.ident_value(id),
            t => Err(self.unexpected(t)),
        }
    }

    fn ident_value(&mut self, id: String) -> Result<Value, String> {
        match id.as_str() {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "nil" => return Ok(Value::Nil),
            "and" | "or" | "not" => return Err(format!("`{id}` cannot start a value")),
            _ => {}
        }
        if self.peek() == Some(&Tok::LParen) {
            return self.nested(|p| p.call(id));
        }
        if let Some(n) = enum_value(&id) {
            return Ok(Value::Int(n));
        }
        if id.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "unknown constant `{id}`: this subset knows SPAN_KIND_* and STATUS_CODE_*"
            ));
        }
        let mut segs = vec![id];
        while self.peek() == Some(&Tok::Dot) {
            self.pos += 1;
            match self.next() {
                Some(Tok::Ident(s)) => segs.push(s),
                _ => return Err(format!("a path ends with `.`: `{}.`", segs.join("."))),
            }
        }
        let mut key = None;
        if self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            match self.next() {
                Some(Tok::Str(k)) => key = Some(k),
                Some(Tok::Int(_)) => {
                    return Err(format!(
                        "`{}[n]`: indexing by number is not supported",
                        segs.join(".")
                    ))
                }
                _ => {
                    return Err(format!(
                        "`{}[...]` needs a string key, e.g. `[\"http.route\"]`",
                        segs.join(".")
                    ))
                }
            }
            self.expect(Tok::RBracket, "`]`")?;
            if self.peek() == Some(&Tok::LBracket) {
                return Err("nested indexing (`[...][...]`) is not supported".into());
            }
            if self.peek() == Some(&Tok::Dot) {
                return Err("a path after an index (`[...].x`) is not supported".into());
            }
        }
        Ok(Value::Path(resolve(&segs, key, self.ctx, self.interest)?))
    }

    fn call(&mut self, name: String) -> Result<Value, String> {
        if name != "IsMatch" {
            return Err(format!(
                "unsupported function `{name}`: this subset supports only `IsMatch(target, \"regex\")`"
            ));
        }
        self.pos += 1; // (
        let target = self.value()?;
        if matches!(target, Value::IsMatch(..)) {
            return Err("`IsMatch` cannot take `IsMatch` as its target".into());
        }
        self.expect(Tok::Comma, "`,` after the first argument of IsMatch")?;
        let pattern = match self.next() {
            Some(Tok::Str(p)) => p,
            _ => {
                return Err(
                    "the second argument of `IsMatch` must be a string literal (the regex)".into(),
                )
            }
        };
        self.expect(Tok::RParen, "`)` closing IsMatch")?;
        let re = Regex::new(&pattern).map_err(|e| format!("IsMatch pattern \"{pattern}\": {e}"))?;
        Ok(Value::IsMatch(Box::new(target), re))
    }
}

/// Source-like text of a path's tokens, for messages.
fn render(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Ident(s) => s.clone(),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Dot => ".".into(),
            Tok::LBracket => "[".into(),
            Tok::RBracket => "]".into(),
            t => describe(t),
        })
        .collect()
}

fn enum_value(id: &str) -> Option<i64> {
    Some(match id {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        _ => return None,
    })
}

/// Maps a path to what the subset can read, in the given context.
fn resolve(
    segs: &[String],
    key: Option<String>,
    ctx: Context,
    interest: &mut Interest,
) -> Result<Path, String> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let text = || {
        let mut t = s.join(".");
        if let Some(k) = &key {
            t.push_str(&format!("[{k:?}]"));
        }
        t
    };
    // Span fields, reachable as `x` / `span.x` in the span context and `span.x` for events.
    let span_field =
        |rest: &[&str], key: &Option<String>, interest: &mut Interest| -> Option<Path> {
            match (rest, key) {
                (["name"], None) => Some(Path::SpanName),
                (["kind"], None) => Some(Path::SpanKind),
                (["kind", "string"], None) => Some(Path::SpanKindString),
                (["status", "code"], None) => Some(Path::SpanStatusCode),
                (["attributes"], Some(k)) => Some(Path::SpanAttr(interest.span_key(k))),
                _ => None,
            }
        };
    if let (["resource", "attributes"], Some(k)) = (s.as_slice(), &key) {
        return Ok(Path::ResourceAttr(interest.resource_key(k)));
    }
    if matches!(s.last(), Some(&"attributes")) && key.is_none() {
        return Err(format!("`{}` needs a key: `{}[\"name\"]`", text(), text()));
    }
    let found = match ctx {
        Context::Span => {
            let rest = s.strip_prefix(&["span"]).unwrap_or(&s);
            span_field(rest, &key, interest)
        }
        Context::SpanEvent => match s.as_slice() {
            ["span", rest @ ..] => span_field(rest, &key, interest),
            ["name"] | ["spanevent", "name"] if key.is_none() => Some(Path::EventName),
            ["attributes"] | ["spanevent", "attributes"] => {
                key.as_ref().map(|k| Path::EventAttr(k.as_bytes().into()))
            }
            _ => None,
        },
    };
    found.ok_or_else(|| {
        let known = match ctx {
            Context::Span => "name, kind, kind.string, status.code, attributes[\"key\"] and resource.attributes[\"key\"]",
            Context::SpanEvent => "name, attributes[\"key\"] (of the event), span.name, span.kind, span.status.code, span.attributes[\"key\"] and resource.attributes[\"key\"]",
        };
        format!("unsupported path `{}`: this subset reads {known}", text())
    })
}
