//! Files where secrets or private data live: directories 0700, files 0600, replaced atomically so
//! a reader (or a crash) sees the old file or the new one, never half of one.

use std::io::Write;
use std::path::Path;

/// Creates `dir` (and missing parents) readable only by the user. An existing directory keeps
/// its mode: it may be one the user chose and shares, and the 0600 files inside protect the data.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replaces `path` with `parts` concatenated, atomically and durably, as a 0600 file (temporary
/// files are created 0600). The parent directory is created 0700 when missing.
pub fn write_private_atomic(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    for part in parts {
        tmp.write_all(part)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_0600_in_a_0700_directory_and_replaced_whole() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("state/secret.key");
        write_private_atomic(&path, &[b"one", b"two"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"onetwo");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        write_private_atomic(&path, &[b"three"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
    }
}
