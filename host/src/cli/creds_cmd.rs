//! `ghmesh creds ...`: the credential vault from the command line. Values come from stdin or a
//! named environment variable, never from arguments (which other users can read in `ps`).

use super::creds_access::{self, ContextArgs, InjectArgs};
use crate::clock::unix_now;
use crate::config::Config;
use crate::credentials::audit;
use crate::credentials::manager::{Manager, NewCredential};
use crate::credentials::master_key::KeyStoreChoice;
use crate::credentials::record::{Metadata, Scope};
use crate::credentials::vault::KeyOptions;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// `ghmesh creds`: where the vault is and how its key is found, and what to do.
#[derive(Debug, Args)]
pub struct CredsArgs {
    #[command(flatten)]
    vault: VaultArgs,
    #[command(subcommand)]
    command: CredsCommand,
}

/// Where the vault lives and how its master key is found.
#[derive(Debug, Args)]
pub struct VaultArgs {
    /// Vault directory (0700), default `<cache dir>/credentials`.
    #[arg(long, global = true, env = "GHMESH_VAULT_DIR", value_name = "DIR")]
    vault_dir: Option<PathBuf>,
    /// Where the master key is kept; `auto` uses an existing vault's store, and for a new vault
    /// the first that works of secret-service, keyutils, file.
    #[arg(long, global = true, env = "GHMESH_KEY_STORE", value_enum)]
    key_store: Option<KeyStoreChoice>,
    /// Derive the master key from the passphrase in this environment variable (PBKDF2-HMAC-SHA256,
    /// 100,000 iterations) instead of keeping a key.
    #[arg(long, global = true, value_name = "VAR")]
    passphrase_env: Option<String>,
}

/// Credential commands.
#[derive(Debug, Subcommand)]
pub enum CredsCommand {
    /// Store a credential (value from stdin, or --from-env); replaces one of the same name.
    Store(StoreArgs),
    /// Print a credential's value (no newline added) if the scope policy grants it; exit code 3
    /// when denied.
    Get {
        /// Credential name.
        name: String,
        #[command(flatten)]
        context: ContextArgs,
    },
    /// Hand credentials to the job's later steps: `::add-mask::` for every line of every value
    /// on stdout first, then `GITHUB_ENV` heredocs; all granted or nothing written.
    Inject(InjectArgs),
    /// List credentials: metadata only, never values.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replace a credential's value (from stdin, or --from-env); the old value is gone.
    Rotate {
        /// Credential name.
        name: String,
        #[command(flatten)]
        value: ValueArgs,
    },
    /// Delete a credential.
    Delete {
        /// Credential name.
        name: String,
    },
    /// Delete every expired credential.
    PurgeExpired,
    /// The audit log of every grant, denial, store, rotation, deletion and expiry.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the counters as JSON: active_credentials, access_events, granted, denied, expired.
    Stats,
}

/// `ghmesh creds audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the records (JSON lines with --json).
    Show {
        /// Print the records as stored, one JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain and its anchor; exit code 1 at the first bad record.
    Verify,
}

/// `ghmesh creds store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Credential name (an environment variable name).
    name: String,
    /// Who may read it.
    #[arg(long, value_enum)]
    scope: Scope,
    /// Repositories (`owner/name`), workflows (`owner/name/.github/workflows/f.yml[@ref]`) or
    /// runner names the scope is narrowed to; globs, comma-separated. Not for `global`.
    #[arg(long, value_name = "GLOBS")]
    scope_filter: Option<String>,
    /// Expire after this many hours.
    #[arg(long, value_name = "N")]
    ttl_hours: Option<u64>,
    /// Grant only to jobs whose identity an OIDC token verified.
    #[arg(long)]
    require_verified: bool,
    #[command(flatten)]
    value: ValueArgs,
}

/// Where a new value comes from.
#[derive(Debug, Args)]
pub struct ValueArgs {
    /// Read the value from this environment variable instead of stdin.
    #[arg(long, value_name = "VAR")]
    from_env: Option<String>,
}

/// Runs a credential command.
pub fn run(args: CredsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let manager = manager(&args.vault, config)?;
    match args.command {
        CredsCommand::Store(store) => {
            let value = read_value(&store.value)?;
            let new = NewCredential {
                name: store.name,
                scope: store.scope,
                scope_filter: store.scope_filter,
                ttl_hours: store.ttl_hours,
                require_verified: store.require_verified,
            };
            let meta = manager.store(&new, &value)?;
            eprintln!("stored {} (version {})", meta.name, meta.version);
        }
        CredsCommand::Get { name, context } => {
            return creds_access::get(&manager, config, name, &context);
        }
        CredsCommand::Inject(args) => return creds_access::inject(&manager, config, &args),
        CredsCommand::Audit(command) => return audit(&manager, command),
        CredsCommand::List { json } => print_list(&manager.list()?, json)?,
        CredsCommand::Rotate { name, value } => {
            let value = read_value(&value)?;
            let meta = manager.rotate(&name, &value)?;
            eprintln!("rotated {} (version {})", meta.name, meta.version);
        }
        CredsCommand::Delete { name } => {
            if !manager.delete(&name)? {
                bail!("no credential named {name:?}");
            }
            eprintln!("deleted {name}");
        }
        CredsCommand::PurgeExpired => {
            let purged = manager.purge_expired(unix_now())?;
            for meta in &purged {
                eprintln!(
                    "purged {} (expired at {})",
                    meta.name,
                    meta.expires_at.unwrap_or(0)
                );
            }
            eprintln!("{} expired credential(s) purged", purged.len());
        }
        CredsCommand::Stats => {
            println!(
                "{}",
                serde_json::to_string_pretty(&manager.stats(unix_now())?)?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn manager(args: &VaultArgs, config: &Config) -> anyhow::Result<Manager> {
    let dir = args
        .vault_dir
        .clone()
        .unwrap_or_else(|| config.cache.dir.join("credentials"));
    let passphrase = match &args.passphrase_env {
        Some(var) => Some(Zeroizing::new(std::env::var(var).with_context(|| {
            format!("--passphrase-env {var}: the variable is not set (or not UTF-8)")
        })?)),
        None => None,
    };
    if passphrase.as_ref().is_some_and(|p| p.is_empty()) {
        bail!("the passphrase is empty");
    }
    let keys = KeyOptions {
        choice: args.key_store,
        passphrase,
    };
    Ok(Manager::new(dir, keys))
}

fn audit(manager: &Manager, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let path = manager.audit_path();
    match command {
        AuditCommand::Show { json } => {
            for record in audit::read_all(&path)? {
                if json {
                    println!("{}", record.to_line().trim_end());
                } else {
                    println!(
                        "{:>5} {} {:<7} {:<5} {:<24} {:<8} {}",
                        record.seq,
                        record.time,
                        format!("{:?}", record.action).to_lowercase(),
                        format!("{:?}", record.decision).to_lowercase(),
                        record.credential,
                        if record.verified { "verified" } else { "-" },
                        record.reason
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let report = audit::verify(&path)?;
            match &report.tamper {
                None => {
                    println!(
                        "audit log {} intact: {} records, last hash {}",
                        path.display(),
                        report.records,
                        report.last_hash
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(tamper) => {
                    println!(
                        "audit log {} FAILED verification after {} good records: {tamper}",
                        path.display(),
                        report.records
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// The value from `--from-env VAR` or stdin; one trailing newline from stdin is dropped (what
/// `echo` adds).
fn read_value(args: &ValueArgs) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if let Some(var) = &args.from_env {
        let value = std::env::var_os(var)
            .with_context(|| format!("--from-env {var}: the variable is not set"))?;
        return Ok(Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(
            value,
        )));
    }
    let mut value = Zeroizing::new(Vec::new());
    std::io::stdin()
        .read_to_end(&mut value)
        .context("reading the value from stdin")?;
    if value.last() == Some(&b'\n') {
        value.pop();
        if value.last() == Some(&b'\r') {
            value.pop();
        }
    }
    Ok(value)
}

fn print_list(list: &[Metadata], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(list)?);
        return Ok(());
    }
    let now = unix_now();
    println!(
        "{:<24} {:<9} {:<32} {:<9} {:>7} EXPIRES",
        "NAME", "SCOPE", "FILTER", "VERIFIED", "VERSION"
    );
    for meta in list {
        let expires = match meta.expires_at {
            None => "never".to_owned(),
            Some(at) if at <= now => format!("expired ({at})"),
            Some(at) => format!("in {}h ({at})", (at - now).div_ceil(3600)),
        };
        println!(
            "{:<24} {:<9} {:<32} {:<9} {:>7} {}",
            meta.name,
            meta.scope.name(),
            meta.scope_filter.as_deref().unwrap_or("-"),
            if meta.require_verified {
                "required"
            } else {
                "-"
            },
            meta.version,
            expires
        );
    }
    Ok(())
}
