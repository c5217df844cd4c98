//! Handing credentials to the rest of a job: every line of every value is masked first
//! (`::add-mask::` on the step's stdout, so the runner hides it from all later log output), then
//! the variables are appended to `GITHUB_ENV` (and, when asked, `GITHUB_OUTPUT`) as heredocs with
//! a fresh random delimiter, so a value can neither end its entry early nor forge another one.
//!
//! One call is all or nothing: every name and value is checked before anything is written, and a
//! single refusal writes nothing at all.

mod names;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use names::refusal as name_refusal;

/// Where the variables go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectTargets {
    /// The job's `GITHUB_ENV` file: variables for every later step.
    pub github_env: PathBuf,
    /// The step's `GITHUB_OUTPUT` file, when the values should also be step outputs.
    pub github_output: Option<PathBuf>,
}

impl InjectTargets {
    /// `GITHUB_ENV` from the runner's environment (no outputs); an error outside Actions.
    pub fn from_env() -> Result<Self, InjectError> {
        let github_env = std::env::var_os("GITHUB_ENV")
            .filter(|p| !p.is_empty())
            .ok_or(InjectError::NoGithubEnv)?;
        Ok(Self {
            github_env: github_env.into(),
            github_output: None,
        })
    }
}

/// What one call did: either everything was injected, or nothing was and `refused` says why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InjectReport {
    /// Names written, in the order given.
    pub injected: Vec<String>,
    /// Names refused, with the reason; when not empty, nothing was written.
    pub refused: Vec<(String, String)>,
}

impl InjectReport {
    /// `Ok(names injected)`, or the refusals as an error.
    pub fn into_result(self) -> Result<Vec<String>, InjectError> {
        if self.refused.is_empty() {
            Ok(self.injected)
        } else {
            Err(InjectError::Refused(self.refused))
        }
    }
}

/// Why injection failed. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// Not inside a GitHub Actions job.
    #[error("GITHUB_ENV is not set: injection only works inside a GitHub Actions job")]
    NoGithubEnv,
    /// Some names or values were refused; nothing was written.
    #[error("nothing injected; refused: {}", refusals(.0))]
    Refused(Vec<(String, String)>),
    /// The masks could not be written to stdout; no variable was written.
    #[error("cannot write ::add-mask:: commands to stdout: {0}")]
    Mask(std::io::Error),
    /// A runner file could not be written.
    #[error("cannot append to {file} ({}): {source}", path.display())]
    File {
        /// `GITHUB_ENV` or `GITHUB_OUTPUT`.
        file: &'static str,
        /// Its path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn refusals(refused: &[(String, String)]) -> String {
    refused
        .iter()
        .map(|(name, why)| format!("{name} ({why})"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One checked variable, ready to write.
struct Prepared<'a> {
    name: &'a str,
    value: &'a str,
    delimiter: String,
}

/// Masks and injects `pairs` (name, value): checks them all, writes `::add-mask::` lines for
/// every non-blank line of every value to `stdout` (and flushes it), then appends every variable
/// to `GITHUB_ENV` and, when set, `GITHUB_OUTPUT` in one write each.
///
/// Refusals (see [`name_refusal`], repeated names, a NUL in a value, a value containing its
/// delimiter) come back in the report, with nothing written. Files are opened for appending
/// (created 0600 when missing) and not synced: the runner reads them on this machine once the
/// step's process has exited, which the page cache already guarantees, and a power loss ends the
/// job whatever is on disk.
pub fn inject<N: AsRef<str>, V: AsRef<str>>(
    pairs: &[(N, V)],
    stdout: &mut impl Write,
    targets: &InjectTargets,
) -> Result<InjectReport, InjectError> {
    inject_with(pairs, stdout, targets, fresh_delimiter)
}

/// [`inject`] with the delimiter source given (tests force collisions with it).
fn inject_with<N: AsRef<str>, V: AsRef<str>>(
    pairs: &[(N, V)],
    stdout: &mut impl Write,
    targets: &InjectTargets,
    mut next_delimiter: impl FnMut() -> String,
) -> Result<InjectReport, InjectError> {
    let mut prepared = Vec::with_capacity(pairs.len());
    let mut refused = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in pairs {
        let (name, value) = (name.as_ref(), value.as_ref());
        let delimiter = next_delimiter();
        let refusal = names::refusal(name)
            .or_else(|| {
                (!seen.insert(name.to_ascii_uppercase())).then(|| "given more than once".into())
            })
            .or_else(|| {
                value
                    .contains('\0')
                    .then(|| "the value holds a NUL byte, which no environment can carry".into())
            })
            .or_else(|| {
                value.contains(&delimiter).then(|| {
                    "the value contains its heredoc delimiter; refusing rather than let it end \
                     the entry early"
                        .into()
                })
            });
        match refusal {
            Some(why) => refused.push((name.to_string(), why)),
            None => prepared.push(Prepared {
                name,
                value,
                delimiter,
            }),
        }
    }
    if !refused.is_empty() {
        return Ok(InjectReport {
            injected: Vec::new(),
            refused,
        });
    }

    // Masks first: a value must be registered with the runner before it can reach any log.
    let mut masks = String::new();
    for p in &prepared {
        for line in p.value.split(['\r', '\n']) {
            if !line.trim().is_empty() {
                masks.push_str("::add-mask::");
                masks.push_str(&escape_data(line));
                masks.push('\n');
            }
        }
    }
    stdout
        .write_all(masks.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(InjectError::Mask)?;

    let mut heredocs = String::new();
    for p in &prepared {
        heredocs.push_str(&format!(
            "{name}<<{d}\n{value}\n{d}\n",
            name = p.name,
            d = p.delimiter,
            value = p.value
        ));
    }
    append(&targets.github_env, "GITHUB_ENV", heredocs.as_bytes())?;
    if let Some(output) = &targets.github_output {
        append(output, "GITHUB_OUTPUT", heredocs.as_bytes())?;
    }
    Ok(InjectReport {
        injected: prepared.iter().map(|p| p.name.to_string()).collect(),
        refused,
    })
}

/// `ghadelimiter_` and 128 random bits in hex, the shape the runner's own toolkit uses.
fn fresh_delimiter() -> String {
    format!("ghadelimiter_{:032x}", rand::random::<u128>())
}

/// Escapes a workflow command's data so it cannot end the command early: `%` → `%25`,
/// `\r` → `%0D`, `\n` → `%0A` (the runner undoes exactly these).
pub fn escape_data(data: &str) -> String {
    data.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn append(path: &Path, file: &'static str, bytes: &[u8]) -> Result<(), InjectError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|source| InjectError::File {
            file,
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests;
