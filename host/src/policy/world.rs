//! The three policy worlds, what each must export, and how each fails safe.

use std::fmt;
use std::str::FromStr;

/// A policy world: one kind of decision, one component slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum World {
    /// `cache-policy`: what the GitHub API cache does.
    CachePolicy,
    /// `codeql-skip`: whether a CodeQL scan may reuse an earlier result.
    CodeqlSkip,
    /// `credential-scope`: whether a job may read a credential.
    CredentialScope,
}

impl World {
    /// Every world, in display order.
    pub const ALL: [World; 3] = [
        World::CachePolicy,
        World::CodeqlSkip,
        World::CredentialScope,
    ];

    /// The WIT world name, as in `wit/worlds.wit` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            World::CachePolicy => "cache-policy",
            World::CodeqlSkip => "codeql-skip",
            World::CredentialScope => "credential-scope",
        }
    }

    /// The fully qualified interface a component of this world must export.
    pub fn export(self) -> &'static str {
        match self {
            World::CachePolicy => "ghmesh:policy/cache@0.1.0",
            World::CodeqlSkip => "ghmesh:policy/codeql@0.1.0",
            World::CredentialScope => "ghmesh:policy/credentials@0.1.0",
        }
    }

    /// What the host does when the component fails (trap, fuel, memory): the safe side.
    pub fn failure_mode(self) -> &'static str {
        match self {
            World::CachePolicy => "bypass the cache for that request",
            World::CodeqlSkip => "run the scan",
            World::CredentialScope => "deny the credential",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for World {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        World::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            format!("unknown policy world `{s}` (expected cache-policy, codeql-skip or credential-scope)")
        })
    }
}
