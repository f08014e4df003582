//! Stage duration sketches for `slower_than`: every arriving span is added to a streaming
//! quantile sketch (DDSketch) of its stage, before the span enters the buffer and outside its
//! locks; decisions ask the stage's quantile. Sketches are local to one tailsift instance.

mod family;
mod publish;
mod window;

pub use family::StageFamily;

use crate::config::SlowerThan;
use crate::otlp::{Interest, Span, TraceId};
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Locks per family.
const STAGE_SHARDS: usize = 16;
/// How often idle stages are evicted and the quantile gauges published.
const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// One field of a stage's grouping, as written in `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageField {
    Service,
    Name,
    Kind,
    Attribute(String),
    Resource(String),
}

impl StageField {
    /// Parses `service`, `name`, `kind`, `attributes.<key>` or `resource.<key>`.
    pub fn parse(s: &str) -> Result<StageField, String> {
        let attr = |prefix: &str| s.strip_prefix(prefix).filter(|k| !k.is_empty());
        Ok(match s {
            "service" => StageField::Service,
            "name" => StageField::Name,
            "kind" => StageField::Kind,
            _ => match (attr("attributes."), attr("resource.")) {
                (Some(k), _) => StageField::Attribute(k.to_string()),
                (_, Some(k)) => StageField::Resource(k.to_string()),
                _ => {
                    return Err(format!(
                        "unknown stage field `{s}`: use `service`, `name`, `kind`, \
                         `attributes.<key>` or `resource.<key>`"
                    ))
                }
            },
        })
    }
}

/// A stage field with its attribute's interest index.
#[derive(Debug, Clone)]
enum CompiledField {
    Service,
    Name,
    Kind,
    Attr(u16),
    Resource(u16),
}

impl CompiledField {
    fn hash_into(&self, s: &Span, h: &mut impl Hasher) {
        let value = |v: Option<&crate::otlp::AttrValue>, h: &mut dyn Hasher| match v {
            Some(crate::otlp::AttrValue::Str(b)) => h.write(b),
            Some(crate::otlp::AttrValue::Int(i)) => h.write_i64(*i),
            Some(crate::otlp::AttrValue::Double(d)) => h.write_u64(d.to_bits()),
            Some(crate::otlp::AttrValue::Bool(b)) => h.write_u8(u8::from(*b)),
            Some(crate::otlp::AttrValue::Other) => h.write_u8(0xfe),
            None => {}
        };
        match self {
            CompiledField::Service => h.write(s.service_bytes().unwrap_or_default()),
            CompiledField::Name => h.write(s.name_bytes()),
            CompiledField::Kind => h.write_u8(s.kind),
            CompiledField::Attr(i) => value(s.attr(*i), h),
            CompiledField::Resource(i) => value(s.resource_attr(*i), h),
        }
    }
}

/// Every family of a rule set (one per distinct `by` and `window`).
#[derive(Debug, Default)]
pub struct Stages {
    families: Vec<Arc<StageFamily>>,
    last_publish: Mutex<Option<Instant>>,
}

impl Stages {
    /// The family a `slower_than` condition reads, shared with conditions of the same `by`
    /// and `window`; registers the attributes it groups by.
    pub fn family(&mut self, spec: &SlowerThan, interest: &mut Interest) -> Arc<StageFamily> {
        let window = spec.window.get();
        let fam = match self
            .families
            .iter()
            .find(|f| f.by == spec.by && f.window == window)
        {
            Some(f) => {
                f.raise_max_stages(spec.max_stages);
                f.clone()
            }
            None => {
                let fields = spec
                    .by
                    .iter()
                    .filter_map(|f| StageField::parse(f).ok())
                    .map(|f| match f {
                        StageField::Service => CompiledField::Service,
                        StageField::Name => CompiledField::Name,
                        StageField::Kind => CompiledField::Kind,
                        StageField::Attribute(k) => CompiledField::Attr(interest.span_key(&k)),
                        StageField::Resource(k) => {
                            CompiledField::Resource(interest.resource_key(&k))
                        }
                    })
                    .collect();
                let f = Arc::new(StageFamily::new(
                    fields,
                    spec.by.clone(),
                    window,
                    spec.max_stages,
                ));
                self.families.push(f.clone());
                f
            }
        };
        fam.add_quantile(spec.quantile);
        fam
    }

    /// Takes over the sketches of `old`'s families that have the same `by` and `window`
    /// (a config reload); returns how many families were carried.
    pub fn adopt(&self, old: &Stages) -> usize {
        let mut carried = 0;
        for f in &self.families {
            if let Some(o) = old
                .families
                .iter()
                .find(|o| o.by == f.by && o.window == f.window)
            {
                f.adopt(o);
                carried += 1;
            }
        }
        carried
    }

    /// Whether any condition reads stage sketches.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    pub fn families(&self) -> &[Arc<StageFamily>] {
        &self.families
    }

    /// Adds arriving spans to their stages' sketches.
    pub fn observe(&self, spans: &[(TraceId, Span)], now: Instant) {
        for f in &self.families {
            for (_, s) in spans {
                f.observe(s, now);
            }
        }
    }

    /// Every few seconds: forgets idle stages and publishes the busiest stages' quantiles.
    pub fn tick(&self, now: Instant) {
        if self.families.is_empty() {
            return;
        }
        {
            let mut last = self.last_publish.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now.saturating_duration_since(t) < PUBLISH_EVERY) {
                return;
            }
            *last = Some(now);
        }
        for f in &self.families {
            f.evict_idle(now);
        }
        publish::publish(&self.families, now);
    }
}

#[cfg(test)]
mod tests;
