//! The node's libp2p identity, kept in `<state dir>/identity.key` (0600) so its peer id survives
//! restarts and other peers' known-peers files stay valid.

use crate::private_fs::write_private_atomic;
use libp2p::identity::Keypair;
use std::path::Path;

/// Loads the keypair in `dir`, or creates and saves a new Ed25519 one. A file that does not
/// decode is moved aside (`identity.key.corrupt`, kept for inspection) and replaced, with a
/// warning: an identity is only a name, nothing is lost but the old peer id.
pub fn load_or_create(dir: &Path) -> anyhow::Result<Keypair> {
    let path = dir.join("identity.key");
    match std::fs::read(&path) {
        Ok(bytes) => match Keypair::from_protobuf_encoding(&bytes) {
            Ok(keypair) => return Ok(keypair),
            Err(e) => {
                let aside = dir.join("identity.key.corrupt");
                tracing::warn!(
                    path = %path.display(),
                    "mesh identity unreadable ({e}); moved to {} and replaced",
                    aside.display()
                );
                std::fs::rename(&path, &aside)?;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
    let keypair = Keypair::generate_ed25519();
    let encoded = keypair.to_protobuf_encoding()?;
    write_private_atomic(&path, &[&encoded])
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_identity_is_stable_private_and_a_corrupt_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
        let key = dir.path().join("identity.key");
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&key, b"garbage").unwrap();
        let fresh = load_or_create(dir.path()).unwrap();
        assert_ne!(fresh.public().to_peer_id(), first.public().to_peer_id());
        assert_eq!(
            std::fs::read(dir.path().join("identity.key.corrupt")).unwrap(),
            b"garbage"
        );
    }
}
