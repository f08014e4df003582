//! Checks and compiles one policy tree. Every problem is collected with its key path, so the
//! same code serves `validate` (errors only) and the daemon (compiled policies).

use super::ottl::{self, Context};
use super::policies::{self, AttrKey, Boxed};
use crate::config::tail_sampling::PolicyCfg;
use crate::config::ValidationError;
use crate::otlp::Interest;

pub struct Compiler<'a> {
    pub interest: &'a mut Interest,
    pub errors: Vec<ValidationError>,
}

impl Compiler<'_> {
    pub fn new(interest: &mut Interest) -> Compiler<'_> {
        Compiler {
            interest,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records "must not be negative" at `path.key` when `value` is; true when it is not.
    pub fn non_negative(&mut self, path: &str, key: &str, value: i64) -> bool {
        if value < 0 {
            self.error(
                format!("{path}.{key}"),
                format!("must not be negative, got {value}"),
            );
        }
        value >= 0
    }

    pub fn attr_key(&mut self, key: &str, path: &str) -> Option<AttrKey> {
        if key.is_empty() {
            self.error(
                format!("{path}.key"),
                "required: the attribute key to look at",
            );
            return None;
        }
        Some(AttrKey {
            span: self.interest.span_key(key),
            resource: self.interest.resource_key(key),
        })
    }

    /// Compiles the policy at `path`; `None` when it has errors (all of them are recorded).
    /// `top`: at the top level of `policies`, where `drop` is allowed.
    pub fn policy(&mut self, p: &PolicyCfg, path: &str, top: bool) -> Option<Boxed> {
        let before = self.errors.len();
        let ty = p.kind.key();
        for block in p.blocks() {
            if block != ty {
                self.error(
                    format!("{path}.{block}"),
                    format!("given, but this policy's type is `{ty}`: settings go in the block named after the type (change `type` or remove this block)"),
                );
            }
        }
        let node = policies::compile(self, p, path, top);
        if self.errors.len() > before {
            None
        } else {
            node
        }
    }

    /// A token bucket's (rate, burst) from a policy block; as in the Collector, a burst not
    /// set (or 0) is twice the rate.
    pub fn bucket(
        &mut self,
        rate: i64,
        burst: Option<i64>,
        path: &str,
        rate_key: &str,
    ) -> (f64, f64) {
        if rate <= 0 {
            self.error(
                format!("{path}.{rate_key}"),
                format!("must be greater than 0, got {rate}"),
            );
        }
        if let Some(b) = burst {
            self.non_negative(path, "burst_capacity", b);
        }
        // As in the Collector: not set (or 0) means twice the rate.
        let burst = burst.filter(|&b| b > 0).unwrap_or(rate.saturating_mul(2));
        (rate as f64, burst as f64)
    }

    pub fn conditions(&mut self, conds: &[String], ctx: Context, path: &str) -> Vec<ottl::Cond> {
        let mut out = Vec::new();
        for (i, c) in conds.iter().enumerate() {
            match ottl::parse(c, ctx, self.interest) {
                Ok(c) => out.push(c),
                Err(e) => self.error(format!("{path}[{i}]"), format!("`{c}`: {e}")),
            }
        }
        out
    }
}
