//! The decider a config asks for, kept with its concrete type so a reload can carry sampler
//! state from the rules that ran to the rules that replace them.

use crate::collector::PolicySet;
use crate::config::{Config, Rule};
use crate::decide::Decider;
use crate::rules::{Action, RuleSet};
use crate::server::RunError;
use std::sync::Arc;

/// The ordered rules, or the Collector-compatible `tail_sampling` policies.
pub enum Engine {
    Rules(Arc<RuleSet>),
    Policies(Arc<PolicySet>),
}

impl Engine {
    /// Compiles the decider of a validated config.
    pub fn compile(config: &Config) -> Result<Engine, RunError> {
        Engine::compile_after(config, None)
    }

    /// Compiles the decider of a config, at start (`previous` is `None`) or on a reload. The
    /// captures active under `previous` stay active (their store is handed to the new rule
    /// set); otherwise, with storage on, captures are kept in the storage directory
    /// ([`crate::capture::FileStore`]), so those active before a restart are again.
    pub fn compile_after(config: &Config, previous: Option<&Engine>) -> Result<Engine, RunError> {
        let store: Option<Arc<dyn crate::capture::CaptureStore>> = match (previous, &config.storage)
        {
            (Some(Engine::Rules(r)), _) => Some(r.captures().store()),
            (_, Some(storage)) => Some(Arc::new(crate::capture::FileStore::open(
                &storage.directory,
            ))),
            _ => None,
        };
        Ok(match (&config.tail_sampling, store) {
            (Some(ts), _) => Engine::Policies(Arc::new(PolicySet::compile(ts)?)),
            (None, Some(store)) => {
                Engine::Rules(Arc::new(RuleSet::compile_with_store(config, store)?))
            }
            (None, None) => Engine::Rules(Arc::new(RuleSet::compile(config)?)),
        })
    }

    pub fn decider(&self) -> Arc<dyn Decider> {
        match self {
            Engine::Rules(r) => r.clone(),
            Engine::Policies(p) => p.clone(),
        }
    }

    /// Moves sampler state from `old` (compiled from `old_rules`) into this engine (compiled
    /// from `new_rules`), rule by rule where a rule of the same name keeps its sampler's
    /// shape: an adaptive rule with the same `key` keeps its per-key rates (a new target
    /// applies from its next adjustment); a `rate_limit` rule written exactly as before keeps
    /// its tokens. Returns the names of the rules whose state was carried. The `tail_sampling`
    /// policies start afresh.
    pub fn adopt(&self, new_rules: &[Rule], old: &Engine, old_rules: &[Rule]) -> Vec<String> {
        let (Engine::Rules(new), Engine::Rules(old)) = (self, old) else {
            return Vec::new();
        };
        let mut carried = Vec::new();
        new.captures().adopt_removals(old.captures());
        if new.stages().adopt(old.stages()) > 0 {
            carried.push("slower_than stage sketches".to_string());
        }
        for (i, rule) in new_rules.iter().enumerate() {
            let Some(j) = old_rules.iter().position(|o| o.name == rule.name) else {
                continue;
            };
            let (Some(n), Some(o)) = (new.rules().get(i), old.rules().get(j)) else {
                continue;
            };
            let was = &old_rules[j];
            let same = match (&n.action, &o.action) {
                (Action::Adaptive(n), Action::Adaptive(o)) => {
                    let same_key = matches!((&rule.adaptive, &was.adaptive),
                        (Some(a), Some(b)) if a.key == b.key);
                    if same_key {
                        n.adopt(o);
                    }
                    same_key
                }
                (Action::RateLimit(n), Action::RateLimit(o)) => {
                    // Debug forms compare every field (the action types have no PartialEq).
                    let same = format!("{:?}", rule.rate_limit) == format!("{:?}", was.rate_limit);
                    if same {
                        n.adopt(o);
                    }
                    same
                }
                _ => false,
            };
            if same {
                carried.push(rule.name.clone());
            }
        }
        carried
    }
}
