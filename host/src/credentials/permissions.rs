//! The vault's permission check. A vault directory or file that others may read, write or enter
//! is refused, not repaired: a looser mode means someone else may already have read or replaced
//! the key or the ciphertexts, and silently tightening it would hide that. The error names the
//! path, its mode and the `chmod` that fixes it once the user has looked.

use anyhow::bail;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Refuses `dir` unless it is a directory with no group or other permission bits.
pub fn check_dir(dir: &Path) -> anyhow::Result<()> {
    check(dir, true)
}

/// Refuses `path` unless it is a regular file with no group or other permission bits.
pub fn check_file(path: &Path) -> anyhow::Result<()> {
    check(path, false)
}

fn check(path: &Path, dir: bool) -> anyhow::Result<()> {
    // symlink_metadata: a symlink in place of a vault file could point anywhere.
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| anyhow::anyhow!("checking the permissions of {}: {e}", path.display()))?;
    let (kind, wanted) = if dir {
        ("directory", 0o700)
    } else {
        ("file", 0o600)
    };
    let right_kind = if dir { meta.is_dir() } else { meta.is_file() };
    if !right_kind {
        bail!(
            "vault {kind} {} is not a plain {kind} (symlinks are refused)",
            path.display()
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "vault {kind} {} has mode {mode:04o}, which lets other users in; refusing to use it \
             (check who could have read it, then `chmod {wanted:o} {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_modes_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let set = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        set(&file, 0o600).unwrap();
        assert!(check_file(&file).is_ok());
        set(&file, 0o640).unwrap();
        let error = check_file(&file).unwrap_err().to_string();
        assert!(
            error.contains("mode 0640") && error.contains("chmod 600"),
            "{error}"
        );
        set(dir.path(), 0o755).unwrap();
        assert!(
            check_dir(dir.path())
                .unwrap_err()
                .to_string()
                .contains("chmod 700")
        );
        set(dir.path(), 0o700).unwrap();
        assert!(check_dir(dir.path()).is_ok());
        assert!(check_dir(&file).is_err());
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        set(&file, 0o600).unwrap();
        assert!(
            check_file(&link)
                .unwrap_err()
                .to_string()
                .contains("symlink")
        );
    }
}
