//! `tailsift capture add|list|remove`: arguments, where the daemon is, what is printed.

use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tailsift::capture::cli::{self, Target};
use tailsift::capture::CaptureMatch;
use tailsift::config;

#[derive(Subcommand)]
pub enum Action {
    /// Keep every trace matching this, ahead of the rules, until the ttl is over. At least
    /// one of the matching options.
    Add {
        /// `user.id` of some span (or its resource).
        #[arg(long)]
        user: Option<String>,
        /// `session.id`.
        #[arg(long)]
        session: Option<String>,
        /// `experiment.id`.
        #[arg(long)]
        experiment: Option<String>,
        /// Any attribute of `sampling.capture.attributes`: `key=value` (repeatable).
        #[arg(long = "attribute", value_name = "KEY=VALUE")]
        attributes: Vec<String>,
        /// A span name.
        #[arg(long)]
        name: Option<String>,
        /// A `service.name`.
        #[arg(long)]
        service: Option<String>,
        /// How long: `30s`, `15m`, `2h`.
        #[arg(long, default_value = "15m")]
        ttl: String,
        /// `full` or a fidelity profile's name.
        #[arg(long, default_value = "full")]
        fidelity: String,
    },
    /// The active captures with their hits.
    List {
        /// Print the JSON the API answers.
        #[arg(long)]
        json: bool,
    },
    /// Remove a capture by id.
    Remove { id: String },
}

/// The API's address: `--endpoint`, or the config's `telemetry.metrics` (its token file too).
pub fn target(
    endpoint: Option<String>,
    token_file: Option<PathBuf>,
    config: Option<&Path>,
    set: &[String],
) -> Result<Target, String> {
    let mut token_path = token_file;
    let base = match (endpoint, config) {
        (Some(e), _) => e,
        (None, Some(path)) => {
            let cfg = config::load_with(path, set).map_err(|e| e.to_string())?;
            let m = cfg.telemetry.metrics.ok_or_else(|| {
                format!("{}: no telemetry.metrics endpoint to reach", path.display())
            })?;
            if token_path.is_none() {
                token_path = m.auth.map(|a| a.bearer_token_file);
            }
            let addr = m
                .endpoint
                .replace("0.0.0.0:", "127.0.0.1:")
                .replace("[::]:", "[::1]:");
            format!("http://{addr}")
        }
        (None, None) => {
            return Err(
                "give --endpoint http://HOST:PORT (the telemetry endpoint) or --config".into(),
            )
        }
    };
    let token = match token_path {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("token file `{}`: {e}", p.display()))?;
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .ok_or_else(|| format!("token file `{}` holds no token", p.display()))?;
            Some(first.to_string())
        }
    };
    Ok(Target { base, token })
}

fn matcher(
    user: Option<String>,
    session: Option<String>,
    experiment: Option<String>,
    attributes: Vec<String>,
    name: Option<String>,
    service: Option<String>,
) -> Result<CaptureMatch, String> {
    let mut attrs = BTreeMap::new();
    for a in attributes {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("--attribute {a}: write KEY=VALUE"))?;
        attrs.insert(k.to_string(), v.to_string());
    }
    Ok(CaptureMatch {
        user,
        session,
        experiment,
        name,
        service,
        attributes: attrs,
    })
}

pub fn run(t: Target, action: Action) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tailsift: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async move {
        match action {
            Action::Add {
                user,
                session,
                experiment,
                attributes,
                name,
                service,
                ttl,
                fidelity,
            } => {
                let m = matcher(user, session, experiment, attributes, name, service)?;
                let c = cli::add(&t, m, &ttl, &fidelity)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{}", c.capture.id);
                Ok(())
            }
            Action::List { json } => {
                let all = cli::list(&t).await.map_err(|e| e.to_string())?;
                if json {
                    println!("{}", serde_json::json!({ "captures": all }));
                } else {
                    print!("{}", cli::table(&all));
                }
                Ok(())
            }
            Action::Remove { id } => cli::remove(&t, &id).await.map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tailsift capture: {e}");
            ExitCode::from(1)
        }
    }
}
