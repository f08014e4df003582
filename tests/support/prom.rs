//! A small parser of the Prometheus text format, enough to read tailsift's `/metrics`.

static BASELINE: std::sync::Mutex<Option<Metrics>> = std::sync::Mutex::new(None);

/// One sample: metric name, labels (in the order rendered), value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of one scrape.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    pub text: String,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| parse_line(l).unwrap_or_else(|| panic!("bad metrics line: {l}")))
            .collect();
        Metrics {
            samples,
            text: text.to_string(),
        }
    }

    /// What this process's recorder renders now (the same text `/metrics` serves); usable after
    /// the daemon stopped and its endpoint closed.
    pub fn of_this_process() -> Metrics {
        Metrics::parse(&tailsift::telemetry::metrics::recorder().render()).since_baseline()
    }

    /// This process's metrics with the counters and histograms that earlier tests of the same
    /// binary left behind taken away, while a test holds [`super::exclusive`] (it records the
    /// baseline). Gauges keep their value: the running daemon sets them.
    pub fn since_baseline(mut self) -> Metrics {
        let baseline = BASELINE.lock().unwrap_or_else(|p| p.into_inner());
        let Some(base) = baseline.as_ref() else {
            return self;
        };
        for s in &mut self.samples {
            let cumulative = ["_total", "_count", "_sum", "_bucket"]
                .iter()
                .any(|suffix| s.name.ends_with(suffix));
            if !cumulative {
                continue;
            }
            if let Some(b) = base
                .samples
                .iter()
                .find(|b| b.name == s.name && b.labels == s.labels)
            {
                s.value -= b.value;
            }
        }
        self
    }

    /// Records what this process's recorder renders now as the baseline (or clears it).
    pub(crate) fn set_baseline(on: bool) {
        let now = on.then(|| Metrics::parse(&tailsift::telemetry::metrics::recorder().render()));
        *BASELINE.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
    }

    /// Sum of the samples of `name` that carry all of `labels`; `None` when there is none.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut it = self.matching(name, labels).peekable();
        it.peek()?;
        Some(it.map(|s| s.value).sum())
    }

    /// Like [`Metrics::get`], with 0 when there is no such sample.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series.to_string(), Vec::new()),
        Some((name, rest)) => (name.to_string(), parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            return Some(out);
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').to_string(), value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}
