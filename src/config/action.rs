//! A rule's action, typed: the one place that reads which of `keep`, `drop`, `probability`,
//! `adaptive` and `rate_limit` a rule gives (validation, the rule compiler and `simulate` all ask
//! [`Rule::action`]) and the one way an action is described to people ([`ActionSpec::describe`]).

use super::schema::Rule;
use super::schema_samplers::{AdaptiveAction, RateLimitAction};

/// What a matching rule does, as configured.
#[derive(Debug, Clone, Copy)]
pub enum ActionSpec<'a> {
    Keep,
    Drop,
    Probability(f64),
    Adaptive(&'a AdaptiveAction),
    RateLimit(&'a RateLimitAction),
}

/// A rule that does not give exactly one action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error(
        "no action: give exactly one of `keep: true`, `drop: true`, `probability: P`, \
         `adaptive: {{...}}` or `rate_limit: {{...}}`"
    )]
    Missing,
    #[error(
        "more than one action ({}): give exactly one of `keep`, `drop`, `probability`, \
         `adaptive` or `rate_limit`",
        .0.join(", ")
    )]
    Several(Vec<&'static str>),
    #[error("`keep: false` is not an action: write `drop: true` to drop matching traces")]
    KeepFalse,
    #[error("`drop: false` is not an action: write `keep: true` to keep matching traces")]
    DropFalse,
}

impl ActionError {
    /// The key under the rule the error is about (`keep`, `drop`), if one.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            ActionError::KeepFalse => Some("keep"),
            ActionError::DropFalse => Some("drop"),
            _ => None,
        }
    }
}

impl Rule {
    /// The rule's one action.
    pub fn action(&self) -> Result<ActionSpec<'_>, ActionError> {
        let given: Vec<&'static str> = [
            ("`keep`", self.keep.is_some()),
            ("`drop`", self.drop.is_some()),
            ("`probability`", self.probability.is_some()),
            ("`adaptive`", self.adaptive.is_some()),
            ("`rate_limit`", self.rate_limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, g)| g.then_some(n))
        .collect();
        if given.len() > 1 {
            return Err(ActionError::Several(given));
        }
        if let Some(a) = &self.adaptive {
            return Ok(ActionSpec::Adaptive(a));
        }
        if let Some(r) = &self.rate_limit {
            return Ok(ActionSpec::RateLimit(r));
        }
        if let Some(p) = self.probability {
            return Ok(ActionSpec::Probability(p));
        }
        match (self.keep, self.drop) {
            (Some(true), _) => Ok(ActionSpec::Keep),
            (Some(false), _) => Err(ActionError::KeepFalse),
            (_, Some(true)) => Ok(ActionSpec::Drop),
            (_, Some(false)) => Err(ActionError::DropFalse),
            (None, None) => Err(ActionError::Missing),
        }
    }
}

impl ActionSpec<'_> {
    /// The action as written in the config: `keep`, `drop`, `probability: 0.25`,
    /// `adaptive: 50 traces/s`, `rate_limit: 10 traces/s, 500 spans/s`.
    pub fn describe(&self) -> String {
        match self {
            ActionSpec::Keep => "keep".into(),
            ActionSpec::Drop => "drop".into(),
            ActionSpec::Probability(p) => format!("probability: {p}"),
            ActionSpec::Adaptive(a) => format!("adaptive: {} traces/s", a.target_traces_per_sec),
            ActionSpec::RateLimit(r) => {
                let mut parts = Vec::new();
                if let Some(t) = r.traces_per_sec {
                    parts.push(format!("{t} traces/s"));
                }
                if let Some(s) = r.spans_per_sec {
                    parts.push(format!("{s} spans/s"));
                }
                format!("rate_limit: {}", parts.join(", "))
            }
        }
    }

    /// Whether the action keeps a rate rather than a share (its kept rate is worth showing).
    pub fn is_rated(&self) -> bool {
        matches!(self, ActionSpec::Adaptive(_) | ActionSpec::RateLimit(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Rule {
        serde_yaml::from_str(&format!("name: r\n{yaml}")).unwrap()
    }

    #[test]
    fn each_action_is_read_and_described_once() {
        let cases = [
            ("keep: true", "keep"),
            ("drop: true", "drop"),
            ("probability: 0.25", "probability: 0.25"),
            (
                "adaptive: { target_traces_per_sec: 50 }",
                "adaptive: 50 traces/s",
            ),
            (
                "rate_limit: { traces_per_sec: 10, spans_per_sec: 500 }",
                "rate_limit: 10 traces/s, 500 spans/s",
            ),
        ];
        for (yaml, described) in cases {
            assert_eq!(rule(yaml).action().unwrap().describe(), described, "{yaml}");
        }
    }

    #[test]
    fn a_rule_without_exactly_one_action_is_refused() {
        let err = |yaml: &str| rule(yaml).action().unwrap_err();
        assert_eq!(err(""), ActionError::Missing);
        assert_eq!(
            err("keep: true\nprobability: 0.5"),
            ActionError::Several(vec!["`keep`", "`probability`"])
        );
        assert_eq!(err("keep: false"), ActionError::KeepFalse);
        assert_eq!(err("drop: false"), ActionError::DropFalse);
        assert_eq!(ActionError::KeepFalse.key(), Some("keep"));
    }
}
