//! Checks shared by the file and environment layers; each returns the reason on failure.

use bytesize::ByteSize;

/// Fewer iterations make an offline guess of a weak fleet secret cheap.
const MIN_PBKDF2_ITERATIONS: u32 = 10_000;

/// A sha256 pin: 64 hex digits, returned lowercase.
pub(super) fn sha256(raw: &str) -> Result<String, String> {
    let hex = raw.trim();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(format!("expected a sha256 of 64 hex digits, got {raw:?}"))
    }
}

/// An operation class name, returned in the cache-policy component's spelling: lowercase
/// `[a-z0-9-]+`. `_` is accepted and becomes `-`, since the seed wrote its names in snake_case.
pub(super) fn operation_class(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(name.replace('_', "-"))
    } else {
        Err(format!(
            "operation class {name:?} must be lowercase letters, digits, '-' and '_'"
        ))
    }
}

/// Zero fuel or memory would make every component call fail.
pub(super) fn nonzero(n: u64) -> Result<(), String> {
    if n == 0 {
        Err("must be greater than zero".to_owned())
    } else {
        Ok(())
    }
}

pub(super) fn pbkdf2_iterations(n: u32) -> Result<(), String> {
    if n < MIN_PBKDF2_ITERATIONS {
        Err(format!("must be at least {MIN_PBKDF2_ITERATIONS}, got {n}"))
    } else {
        Ok(())
    }
}

/// A byte count (`1073741824`) or a number with a unit: SI (`1GB` = 10^9) or IEC
/// (`512MiB` = 512 * 2^20), case-insensitive.
pub(super) fn size(raw: &str) -> Result<u64, String> {
    let bad = || format!("expected a byte count or a size such as 512MiB or 1GB, got {raw:?}");
    let size: ByteSize = raw.trim().parse().map_err(|_| bad())?;
    // bytesize saturates on overflow; a size that large is a typo, not a wish.
    if size.0 == u64::MAX {
        return Err(bad());
    }
    Ok(size.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn size_parsing() {
        assert_eq!(size("1GB"), Ok(1_000_000_000));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("512MiB"), Ok(512 << 20));
        assert_eq!(size("512 mib"), Ok(512 << 20));
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("1.5KiB"), Ok(1536));
        assert!(size("lots").is_err());
        assert!(size("-1").is_err());
        assert!(size("99999999999EiB").is_err());
    }

    #[test]
    fn sha256_pins_are_validated() {
        assert_eq!(sha256(PIN).as_deref(), Ok(PIN));
        assert_eq!(sha256(&PIN.to_uppercase()).as_deref(), Ok(PIN));
        assert!(sha256(&PIN[1..]).is_err());
        assert!(sha256(&PIN.replace('9', "g")).is_err());
    }

    #[test]
    fn limits() {
        assert!(pbkdf2_iterations(9_999).is_err());
        assert!(pbkdf2_iterations(10_000).is_ok());
        assert!(nonzero(0).is_err());
        assert_eq!(operation_class("workflow-runs").unwrap(), "workflow-runs");
        assert_eq!(
            operation_class("get_runner_status").unwrap(),
            "get-runner-status"
        );
        assert!(operation_class("").is_err());
        assert!(operation_class("Repos").is_err());
        assert!(operation_class("a.b").is_err());
    }
}
