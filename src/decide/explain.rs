//! Why the rule set decided a trace as it did: the rules evaluated in order (with the parts of
//! their conditions that did not hold), the deciding rule and action, and the sampling numbers.

use super::Verdict;
use crate::sampler::probability::probability;
use std::fmt;
use std::sync::Arc;

/// One rule evaluated on the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleCheck {
    pub index: usize,
    pub name: Arc<str>,
    pub matched: bool,
    /// The parts of `when` that did not hold (`span`, `root`, `trace`, `any`, `not`).
    pub failed: Vec<&'static str>,
}

/// The numbers behind a sampled verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplingDetail {
    /// `keep` or `drop`: no sampling.
    None,
    /// `probability` or `adaptive`: kept when `randomness >= threshold`.
    Threshold {
        /// The adaptive rule's key, if the rule is adaptive.
        key: Option<String>,
        randomness: u64,
        threshold: u64,
    },
    /// `rate_limit`: whether the token bucket had room.
    RateLimit { admitted: bool },
}

/// The full account of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Rules in order, up to and including the deciding one.
    pub checks: Vec<RuleCheck>,
    pub verdict: Verdict,
    /// The deciding rule's name (`_default` when none matched).
    pub rule: String,
    /// The deciding action, as written in the config (`keep`, `probability: 0.25`, ...).
    pub action: String,
    pub sampling: SamplingDetail,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            if c.matched {
                writeln!(f, "  rule {} `{}`: matched", c.index, c.name)?;
            } else {
                writeln!(
                    f,
                    "  rule {} `{}`: no match (did not hold: {})",
                    c.index,
                    c.name,
                    c.failed.join(", ")
                )?;
            }
        }
        if self.verdict.rule.is_none() {
            writeln!(f, "  no rule matched: kept by default (`{}`)", self.rule)?;
        }
        let verdict = if self.verdict.keep { "kept" } else { "dropped" };
        write!(
            f,
            "  decided by `{}` ({}): {verdict}",
            self.rule, self.action
        )?;
        match &self.sampling {
            SamplingDetail::None => {}
            SamplingDetail::Threshold {
                key,
                randomness,
                threshold,
            } => {
                if let Some(k) = key {
                    write!(f, "\n  key: {k}")?;
                }
                write!(
                    f,
                    "\n  probability {:.6} (threshold {threshold:#016x}); randomness \
                     {randomness:#016x} is {} the threshold",
                    probability(*threshold),
                    if randomness >= threshold {
                        "at or above"
                    } else {
                        "below"
                    }
                )?;
            }
            SamplingDetail::RateLimit { admitted } => {
                write!(
                    f,
                    "\n  token bucket {}",
                    if *admitted { "had room" } else { "was empty" }
                )?;
            }
        }
        Ok(())
    }
}
