//! `status_code`: samples a trace when any span has one of the given status codes.

use super::{Boxed, Decision, Policy, TraceView};
use crate::collector::compile::Compiler;
use crate::config::tail_sampling::StatusCodeCfg;
use crate::otlp::model::status;

/// Bit mask of status codes.
#[derive(Debug)]
pub struct StatusCode(u8);

fn status_bit(code: &str) -> Option<u8> {
    match code {
        "UNSET" => Some(1 << status::UNSET),
        "OK" => Some(1 << status::OK),
        "ERROR" => Some(1 << status::ERROR),
        _ => None,
    }
}

pub fn compile(c: &mut Compiler, cfg: StatusCodeCfg, path: &str) -> Option<Boxed> {
    let codes = cfg.status_codes.0;
    if codes.is_empty() {
        c.error(
            format!("{path}.status_codes"),
            "give at least one of OK, ERROR, UNSET",
        );
    }
    let mut mask = 0u8;
    for (i, code) in codes.iter().enumerate() {
        match status_bit(code) {
            Some(b) => mask |= b,
            None => c.error(
                format!("{path}.status_codes[{i}]"),
                format!("unknown status code `{code}`: use OK, ERROR or UNSET (upper case)"),
            ),
        }
    }
    Some(Box::new(StatusCode(mask)))
}

impl Policy for StatusCode {
    fn eval(&self, t: &TraceView) -> Decision {
        Decision::of(
            t.spans
                .iter()
                .any(|s| s.status < 8 && self.0 & (1 << s.status) != 0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_error, compile, judge};
    use super::Decision;
    use crate::fixtures::span;

    #[test]
    fn samples_a_trace_with_a_listed_status() {
        let p = compile("{ name: p, type: status_code, status_code: { status_codes: [ERROR] } }");
        assert_eq!(
            judge(&p, vec![span(1, 1), span(1, 2).error()]),
            Decision::Sampled
        );
        assert_eq!(judge(&p, vec![span(1, 1)]), Decision::NotSampled);
    }

    #[test]
    fn codes_are_upper_case() {
        assert_error(
            "{ name: p, type: status_code, status_code: { status_codes: [error] } }",
            ".status_code.status_codes[0]",
            "unknown status code",
        );
    }
}
