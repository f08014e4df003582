//! How a verdict of the ordered rules combines with peers' verdicts (`crate::cluster`): the
//! earliest matching rule across instances wins, so an instance holding part of a trace can
//! tell whether a peer's verdict could still override its own, and whether its own matters to
//! peers.

use super::{Action, RuleSet};
use crate::decide::{Standing, Verdict};

impl RuleSet {
    /// Whether rule `i` (or the default, `i == len`) can keep a trace.
    fn can_keep(&self, i: usize) -> bool {
        match self.rules.get(i).map(|r| &r.action) {
            None => true,
            Some(Action::Drop) => false,
            Some(Action::Probability { threshold }) => {
                *threshold < crate::sampler::probability::MAX_THRESHOLD
            }
            Some(_) => true,
        }
    }

    /// Whether rule `i` (or the default) can drop a trace.
    fn can_drop(&self, i: usize) -> bool {
        match self.rules.get(i).map(|r| &r.action) {
            None | Some(Action::Keep) => false,
            Some(Action::Probability { threshold }) => *threshold > 0,
            Some(_) => true,
        }
    }

    /// The last rank any instance can reach: the first rule without a condition matches every
    /// trace, so no verdict ranks after it; without one, the default (kept).
    fn reach(&self) -> usize {
        self.rules
            .iter()
            .position(|r| r.when.is_none())
            .unwrap_or(self.rules.len())
    }

    /// See [`Standing`]. A keep is final only under the first rule: a peer's earlier rule
    /// would change its annotation, threshold or fidelity. Ties at one rank go to a keep, so a
    /// drop is final only when no rule up to its own can keep.
    ///
    /// A capture's keep (its slots come after the rules in [`crate::decide::Decider::rule_names`],
    /// but captures are checked before every rule) ranks first, is final and is shared: the
    /// peers holding other parts of a captured trace keep them too. At rank 0 it ties with the
    /// first rule, and ties go to a keep.
    pub fn standing(&self, v: Verdict) -> Standing {
        if v.keep && v.rule.is_some_and(|i| usize::from(i) >= self.rules.len()) {
            return Standing {
                rank: 0,
                final_alone: true,
                share: true,
            };
        }
        let r = v.rule.map_or(self.rules.len(), usize::from);
        let reach = self.reach();
        if v.keep {
            Standing {
                rank: r as u32,
                final_alone: r == 0,
                share: r < reach || self.can_drop(r),
            }
        } else {
            Standing {
                rank: r as u32,
                final_alone: !(0..=r).any(|i| self.can_keep(i)),
                share: (r + 1..=reach).any(|i| self.can_keep(i)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::decide::{Standing, Verdict};
    use crate::rules::RuleSet;

    fn rules(yaml_rules: &str) -> RuleSet {
        let cfg = parse(
            &format!(
                "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
             exporters: {{ out: {{ protocol: file, path: out.jsonl }} }}\n\
             sampling:\n  rules:\n{yaml_rules}"
            ),
            "test.yaml",
        )
        .expect("valid config");
        RuleSet::compile(&cfg).expect("compiles")
    }

    fn st(rank: u32, final_alone: bool, share: bool) -> Standing {
        Standing {
            rank,
            final_alone,
            share,
        }
    }

    #[test]
    fn keep_rules_before_a_sampler_are_final_and_shared() {
        let r = rules(
            "    - { name: errors, when: { span: { status: error } }, keep: true }\n\
             \x20   - { name: rest, probability: 0.1 }\n",
        );
        assert_eq!(r.standing(Verdict::new(Some(0), true)), st(0, true, true));
        // A sampled keep of the catch-all waits (a peer's error keep would change its
        // annotation and fidelity) and is shared (a peer may have drawn a drop at the same
        // rule under another threshold).
        assert_eq!(r.standing(Verdict::new(Some(1), true)), st(1, false, true));
        // Its drop waits (a peer's error keep wins) and is not shared (nothing ranks after).
        assert_eq!(
            r.standing(Verdict::new(Some(1), false)),
            st(1, false, false)
        );
    }

    #[test]
    fn an_early_drop_rule_makes_later_keeps_wait() {
        let r = rules(
            "    - { name: health, when: { span: { name: /health } }, drop: true }\n\
             \x20   - { name: errors, when: { span: { status: error } }, keep: true }\n",
        );
        assert_eq!(r.standing(Verdict::new(Some(0), false)), st(0, true, true));
        assert_eq!(r.standing(Verdict::new(Some(1), true)), st(1, false, true));
        // The default keeps what no rule matched; nothing ranks after it.
        assert_eq!(r.standing(Verdict::new(None, true)), st(2, false, false));
    }

    #[test]
    fn a_capture_keep_ranks_first_is_final_and_shared() {
        let r = rules(
            "    - { name: health, when: { span: { name: /health } }, drop: true }\n\
             \x20   - { name: rest, drop: true }\n",
        );
        // Capture slots follow the two rules in `rule_names`.
        assert_eq!(r.standing(Verdict::new(Some(2), true)), st(0, true, true));
        // A rule's verdict still ranks by its position.
        assert_eq!(r.standing(Verdict::new(Some(1), false)), st(1, true, false));
    }
}
