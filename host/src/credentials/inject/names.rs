//! Which variable names a credential may be injected as. A later step inherits every variable in
//! `GITHUB_ENV`, so a name that changes how programs start, load code, find binaries or talk to
//! the runner would hand the job's control to whoever controls the value.

/// Names refused exactly (compared case-insensitively), with why.
const RESERVED: &[(&str, &str)] = &[
    ("PATH", "decides which binary every later command runs"),
    (
        "HOME",
        "moves dotfiles (.bashrc, .gitconfig, .npmrc) under the value's control",
    ),
    ("SHELL", "chooses the shell programs spawn"),
    (
        "BASH_ENV",
        "a file bash sources before every non-interactive script (each run step)",
    ),
    ("ENV", "a file sh/dash source on start"),
    (
        "PS4",
        "expanded (running command substitutions) by bash -x tracing",
    ),
    ("PROMPT_COMMAND", "run by bash before each prompt"),
    ("IFS", "changes how shells split words"),
    ("SHELLOPTS", "turns on shell options in every bash"),
    ("BASHOPTS", "turns on shell options in every bash"),
    ("CDPATH", "redirects `cd` in scripts"),
    ("GLOBIGNORE", "changes shell globbing"),
    ("ZDOTDIR", "moves zsh start-up files"),
    (
        "NODE_OPTIONS",
        "node flags, including --require of arbitrary code",
    ),
    ("NODE_PATH", "where node resolves modules"),
    ("JAVA_TOOL_OPTIONS", "JVM flags (agents) for every java"),
    ("_JAVA_OPTIONS", "JVM flags (agents) for every java"),
    (
        "JDK_JAVA_OPTIONS",
        "JVM flags (agents) for the java launcher",
    ),
    ("PYTHONPATH", "where python imports code from"),
    ("PYTHONSTARTUP", "a file python runs on start"),
    ("PYTHONHOME", "where python finds its standard library"),
    ("PYTHONINSPECT", "changes how python scripts exit"),
    ("PERL5OPT", "perl flags, including -M of arbitrary modules"),
    ("PERL5LIB", "where perl loads modules from"),
    ("PERLLIB", "where perl loads modules from"),
    ("RUBYOPT", "ruby flags, including -r of arbitrary code"),
    ("RUBYLIB", "where ruby loads code from"),
    (
        "DOTNET_STARTUP_HOOKS",
        "assemblies every .NET process loads",
    ),
    ("RUSTC_WRAPPER", "a program cargo runs instead of rustc"),
    (
        "GCONV_PATH",
        "where glibc loads charset converters (code) from",
    ),
    ("HOSTALIASES", "redirects host name resolution"),
    ("LOCALDOMAIN", "changes host name resolution"),
    ("RES_OPTIONS", "changes host name resolution"),
    ("TMPDIR", "moves every temporary file"),
    ("CI", "tells tools whether they run unattended"),
];

/// Prefixes refused (compared case-insensitively), with why.
const RESERVED_PREFIXES: &[(&str, &str)] = &[
    (
        "LD_",
        "dynamic loader settings (LD_PRELOAD, LD_LIBRARY_PATH) load code into every process",
    ),
    (
        "DYLD_",
        "dynamic loader settings load code into every process (macOS)",
    ),
    (
        "GITHUB_",
        "the runner's own context (GITHUB_ENV, GITHUB_PATH, GITHUB_TOKEN …)",
    ),
    ("RUNNER_", "the runner's own settings"),
    (
        "ACTIONS_",
        "the runner's own settings (ACTIONS_ID_TOKEN_REQUEST_*, cache URLs)",
    ),
    (
        "GIT_",
        "git settings (GIT_SSH_COMMAND, GIT_CONFIG_*, GIT_EXEC_PATH) run programs",
    ),
    ("SSH_", "ssh agent and settings"),
    (
        "BASH_FUNC_",
        "exported bash functions, defined in every bash",
    ),
    (
        "NPM_CONFIG_",
        "npm settings (script-shell, node-options, registry)",
    ),
    ("CARGO_", "cargo settings (build.rustc-wrapper, registries)"),
];

/// Why `name` may not be injected, or `None` when it may.
///
/// A name must match `[A-Za-z_][A-Za-z0-9_]*`: anything else is no portable variable name, and
/// `=`, spaces, newlines or `<` could forge extra lines in `GITHUB_ENV`. Reserved names and
/// prefixes are compared case-insensitively: environments are case-insensitive on Windows
/// runners, and a near-miss spelling is never what a credential wants to be called.
pub fn refusal(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Some("not a variable name: expected [A-Za-z_][A-Za-z0-9_]*".into());
    }
    let upper = name.to_ascii_uppercase();
    if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| *reserved == upper) {
        return Some(format!("reserved: {why}"));
    }
    RESERVED_PREFIXES
        .iter()
        .find(|(prefix, _)| upper.starts_with(prefix))
        .map(|(prefix, why)| format!("reserved prefix {prefix}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn plain_names_pass() {
        for name in [
            "NPM_TOKEN",
            "_private",
            "a",
            "DEPLOY_KEY_2",
            "PATHFINDER",
            "HOMEBREW_X",
        ] {
            assert_eq!(refusal(name), None, "{name}");
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        for name in [
            "", "1ABC", "A-B", "A B", "A=B", "A\nB", "A<<B", "Ä", "A.B", "A\0",
        ] {
            let why = refusal(name).unwrap_or_else(|| panic!("{name:?} passed"));
            assert!(why.starts_with("not a variable name"), "{why}");
        }
    }

    #[test]
    fn hijacking_names_are_refused_in_any_case() {
        for name in [
            "PATH",
            "path",
            "Path",
            "LD_PRELOAD",
            "ld_library_path",
            "DYLD_INSERT_LIBRARIES",
            "NODE_OPTIONS",
            "BASH_ENV",
            "ENV",
            "PS4",
            "PROMPT_COMMAND",
            "IFS",
            "SHELLOPTS",
            "BASHOPTS",
            "GITHUB_TOKEN",
            "github_env",
            "RUNNER_TEMP",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "HOME",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "PERL5OPT",
            "RUBYOPT",
            "GIT_SSH_COMMAND",
            "SSH_AUTH_SOCK",
            "BASH_FUNC_x%%",
            "NPM_CONFIG_SCRIPT_SHELL",
        ] {
            // BASH_FUNC_x%% is also malformed; either refusal will do.
            assert!(refusal(name).is_some(), "{name} passed");
        }
        assert!(refusal("ld_preload").unwrap().contains("LD_"));
        assert!(refusal("Path").unwrap().starts_with("reserved"));
    }
}
