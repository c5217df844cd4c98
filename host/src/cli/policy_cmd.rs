//! `ghmesh policy ...`: list the components in force and evaluate one decision from a JSON input,
//! for component authors and auditors.

use crate::config::{ComponentPin, Config};
use crate::policy::{
    ComponentInfo, ComponentSource, Limits, PolicyRuntime, Verdict, World, cache, codeql,
    credentials,
};
use anyhow::Context;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Policy component commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// List each world's component: source (embedded or path), sha256, imports, failure mode.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask a world's component for one decision and print it as JSON.
    ///
    /// INPUT is a JSON file (or - for stdin). cache-policy takes {"request": {...}},
    /// {"entry": {...}} or {"response": {...}}; codeql-skip takes {"scan": {...}};
    /// credential-scope takes {"credential": {...}, "context": {...}}. See docs/examples/.
    Eval {
        /// cache-policy, codeql-skip or credential-scope.
        world: World,
        /// JSON input file, or - for stdin.
        input: PathBuf,
    },
}

/// Runs a policy command.
pub fn run(command: PolicyCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let runtime = runtime(config)?;
    match command {
        PolicyCommand::List { json } => list(&runtime, config, json),
        PolicyCommand::Eval { world, input } => {
            let text = read_input(&input)?;
            let output = eval(&runtime, config, world, &text)
                .with_context(|| format!("evaluating {world} with {}", input.display()))?;
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The runtime with the configured limits and compilation cache.
pub fn runtime(config: &Config) -> anyhow::Result<PolicyRuntime> {
    let limits = Limits {
        fuel_per_call: config.policy.fuel_per_call,
        memory_bytes: usize::try_from(config.policy.memory_limit_bytes).unwrap_or(usize::MAX),
    };
    PolicyRuntime::new(limits, Some(config.policy.compile_cache_dir.clone()))
}

/// The configured source of `world`'s component.
pub fn source_for(config: &Config, world: World) -> ComponentSource {
    let pin: &Option<ComponentPin> = match world {
        World::CachePolicy => &config.policy.cache_policy,
        World::CodeqlSkip => &config.policy.codeql_skip,
        World::CredentialScope => &config.policy.credential_scope,
    };
    match pin {
        None => ComponentSource::Embedded,
        Some(pin) => ComponentSource::Pinned {
            path: pin.path.clone(),
            sha256: pin.sha256.clone(),
        },
    }
}

fn list(runtime: &PolicyRuntime, config: &Config, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut entries = Vec::new();
    let mut refused = 0;
    for world in World::ALL {
        match runtime.inspect(world, &source_for(config, world)) {
            Ok(info) => entries.push(info_json(&info)),
            Err(error) => {
                refused += 1;
                entries.push(json!({ "world": world.name(), "error": error.to_string() }));
            }
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        for entry in &entries {
            print_entry(entry);
        }
    }
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn info_json(info: &ComponentInfo) -> Value {
    json!({
        "world": info.world.name(),
        "source": info.origin.to_string(),
        "sha256": info.sha256,
        "exports": info.world.export(),
        "imports": info.imports,
        "failure_mode": info.world.failure_mode(),
    })
}

fn print_entry(entry: &Value) {
    println!("{}", entry["world"].as_str().unwrap_or_default());
    if let Some(error) = entry["error"].as_str() {
        println!("  REFUSED: {error}\n");
        return;
    }
    for key in ["source", "sha256", "exports", "failure_mode"] {
        println!(
            "  {:<14}{}",
            format!("{}:", key.replace('_', " ")),
            entry[key].as_str().unwrap_or_default()
        );
    }
    let imports: Vec<&str> = entry["imports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "  {:<14}{}\n",
        "imports:",
        imports.join("\n                ")
    );
}

fn read_input(input: &PathBuf) -> anyhow::Result<String> {
    if input.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading input from stdin")?;
        Ok(text)
    } else {
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))
    }
}

/// `policy eval` input for the cache policy: exactly one of the three calls.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum CacheInput {
    Request(cache::Request),
    Entry(cache::Entry),
    Response(cache::Response),
}

/// `policy eval` input for the CodeQL skip policy.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeqlInput {
    scan: codeql::ScanRequest,
}

/// `policy eval` input for the credential scope policy.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialInput {
    credential: credentials::Credential,
    context: credentials::Context,
}

/// Parses `text` for `world`, asks the configured component, and renders the verdict.
fn eval(
    runtime: &PolicyRuntime,
    config: &Config,
    world: World,
    text: &str,
) -> anyhow::Result<Value> {
    let source = source_for(config, world);
    match world {
        World::CachePolicy => {
            let policy = runtime.cache_policy(&source)?;
            Ok(match parse::<CacheInput>(text)? {
                CacheInput::Request(r) => render("on-request", policy.on_request(&r))?,
                CacheInput::Entry(e) => render("on-entry", policy.on_entry(&e))?,
                CacheInput::Response(r) => render("on-response", policy.on_response(&r))?,
            })
        }
        World::CodeqlSkip => {
            let input = parse::<CodeqlInput>(text)?;
            render("decide", runtime.codeql_skip(&source)?.decide(&input.scan))
        }
        World::CredentialScope => {
            let input = parse::<CredentialInput>(text)?;
            render(
                "decide",
                runtime
                    .credential_scope(&source)?
                    .decide(&input.credential, &input.context),
            )
        }
    }
}

/// Deserializes with the path of the offending field in the error.
fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> anyhow::Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("invalid input at `{path}`: {}", e.into_inner())
    })
}

fn render<T: serde::Serialize>(function: &str, verdict: Verdict<T>) -> anyhow::Result<Value> {
    let component: &Arc<ComponentInfo> = &verdict.component;
    let decision = serde_json::to_value(&verdict.decision)?;
    Ok(json!({
        "world": component.world.name(),
        "function": function,
        "component": { "source": component.origin.to_string(), "sha256": component.sha256 },
        "decision": decision,
        "reason": reason_of(&decision),
        "failure": verdict.failure,
    }))
}

/// The human-readable reason inside a decision: a variant's string payload, or a `reason` field.
fn reason_of(decision: &Value) -> Value {
    match decision {
        Value::String(s) => Value::String(s.clone()),
        Value::Object(map) => {
            if let Some(reason) = map.get("reason") {
                return reason.clone();
            }
            map.values()
                .map(reason_of)
                .find(|r| !r.is_null())
                .unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}
