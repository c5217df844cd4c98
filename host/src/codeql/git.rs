//! The git CLI, narrowed to what the CodeQL cache asks of a repository: tree ids, a clean
//! worktree, and the files changed between two commits. Every failure names the command, the
//! directory and git's own message, so a caller can fail closed with a readable reason.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A git working tree the CodeQL cache reads.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
}

/// How a file changed between two commits (`git diff --raw`), before it becomes the WIT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Path relative to the repository root.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// The kinds of change the skip policy distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// New file.
    Added,
    /// Content changed.
    Modified,
    /// Removed.
    Deleted,
    /// File type changed (file, symlink, submodule).
    TypeChanged,
    /// A submodule (gitlink) was added, moved or removed.
    Submodule,
}

/// Mode of a gitlink (submodule pointer) in a tree.
const GITLINK_MODE: &str = "160000";

impl Repo {
    /// A repository whose worktree is (or is inside) `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory commands run in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git args` in the repository; its stdout, or an error naming the command and git's
    /// message. Global and system configuration are ignored so a user's aliases or hooks cannot
    /// change what is read.
    pub fn git(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["-c", "core.quotepath=false"])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run git in {}: {e}", self.dir.display()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            anyhow::bail!(
                "`git {}` failed in {}: {}",
                args.join(" "),
                self.dir.display(),
                stderr.trim()
            );
        }
        String::from_utf8(output.stdout)
            .map_err(|_| anyhow::anyhow!("`git {}` printed non-UTF-8 output", args.join(" ")))
    }

    /// The full commit id `rev` names (a commit, not a tag object).
    pub fn commit_id(&self, rev: &str) -> anyhow::Result<String> {
        check_rev(rev)?;
        let id = self.git(&[
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ])?;
        Ok(id.trim().to_string())
    }

    /// The tree id of commit `rev`: a digest of every path, mode and blob of the source.
    pub fn tree_id(&self, rev: &str) -> anyhow::Result<String> {
        check_rev(rev)?;
        let id = self.git(&[
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{rev}^{{tree}}"),
        ])?;
        Ok(id.trim().to_string())
    }

    /// The object format (`sha1` or `sha256`), part of the key so ids of the two formats never meet.
    pub fn object_format(&self) -> anyhow::Result<String> {
        let format = self.git(&["rev-parse", "--show-object-format"])?;
        Ok(format.trim().to_string())
    }

    /// Refuses a worktree CodeQL would see differently from the commit's tree: uncommitted or
    /// untracked files (ignored ones excepted), or a submodule checked out at another commit or
    /// holding changes of its own — `--ignore-submodules=none` makes `status` report all three
    /// as a modified submodule, so no separate `git submodule status` (which costs more than the
    /// whole status on a large repository) is needed. An uninitialised submodule is not analysed
    /// and its recorded commit is in the tree.
    pub fn check_clean(&self) -> anyhow::Result<()> {
        let status = self.git(&[
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
            "--ignore-submodules=none",
        ])?;
        let dirty: Vec<&str> = status.lines().filter(|l| !l.is_empty()).collect();
        if let Some(first) = dirty.first() {
            anyhow::bail!(
                "worktree {} is dirty ({} uncommitted change{}, first: {:?}); a cached result cannot stand for it",
                self.dir.display(),
                dirty.len(),
                if dirty.len() == 1 { "" } else { "s" },
                first.trim()
            );
        }
        Ok(())
    }

    /// Files changed from `base` to `commit` (renames as delete + add, so both paths are judged).
    pub fn changes(&self, base: &str, commit: &str) -> anyhow::Result<Vec<Change>> {
        check_rev(base)?;
        check_rev(commit)?;
        let raw = self.git(&[
            "diff",
            "--raw",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            base,
            commit,
            "--",
        ])?;
        parse_raw(&raw)
    }
}

/// A revision is passed as one argument after `--end-of-options` or before `--`; refuse shapes
/// that could still read as an option or a range.
fn check_rev(rev: &str) -> anyhow::Result<()> {
    if rev.is_empty()
        || rev.starts_with('-')
        || rev.contains("..")
        || rev.contains(char::is_whitespace)
    {
        anyhow::bail!("{rev:?} is not a commit id or ref");
    }
    Ok(())
}

/// Parses `git diff --raw -z --no-renames`: `:old_mode new_mode old new STATUS\0path\0` per file.
fn parse_raw(raw: &str) -> anyhow::Result<Vec<Change>> {
    let mut fields = raw.split('\0');
    let mut changes = Vec::new();
    while let Some(header) = fields.next() {
        if header.is_empty() {
            continue;
        }
        let path = fields
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| anyhow::anyhow!("git diff --raw: no path after {header:?}"))?;
        let parts: Vec<&str> = header.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, _, _, status] = parts[..] else {
            anyhow::bail!("git diff --raw: unexpected line {header:?}");
        };
        let kind = if old_mode == GITLINK_MODE || new_mode == GITLINK_MODE {
            ChangeKind::Submodule
        } else {
            match status.chars().next() {
                Some('A') => ChangeKind::Added,
                Some('M') => ChangeKind::Modified,
                Some('D') => ChangeKind::Deleted,
                Some('T') => ChangeKind::TypeChanged,
                _ => anyhow::bail!("git diff --raw: unknown status {status:?} for {path}"),
            }
        };
        changes.push(Change {
            path: path.to_string(),
            kind,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_diff_is_parsed_with_submodules_and_type_changes() {
        let raw = ":100644 100644 aaa bbb M\0src/a.py\0:000000 100644 000 ccc A\0docs/x.md\0\
                   :160000 160000 ddd eee M\0vendor/lib\0:100644 120000 fff 999 T\0link\0";
        let changes = parse_raw(raw).unwrap();
        let kinds: Vec<_> = changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("src/a.py", ChangeKind::Modified),
                ("docs/x.md", ChangeKind::Added),
                ("vendor/lib", ChangeKind::Submodule),
                ("link", ChangeKind::TypeChanged)
            ]
        );
    }

    #[test]
    fn option_like_or_range_revisions_are_refused() {
        assert!(check_rev("--output=/tmp/x").is_err());
        assert!(check_rev("a..b").is_err());
        assert!(check_rev("").is_err());
        assert!(check_rev("HEAD").is_ok());
    }
}
