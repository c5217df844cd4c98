//! From configuration to [`MeshSettings`]: where the fleet secret comes from, which addresses to
//! listen on and dial. Fails closed: no secret, no mesh.

use super::{MeshSettings, NatSettings};
use crate::config::P2pConfig;
use crate::crypto::FleetKeys;
use libp2p::Multiaddr;
use std::path::Path;
use std::time::Duration;

/// The variable holding the fleet secret.
pub const FLEET_SECRET_VAR: &str = "GHMESH_FLEET_SECRET";
/// Variables holding a GitHub token, tried in order when `use_github_token` is set.
const TOKEN_VARS: [&str; 2] = ["GITHUB_TOKEN", "GH_TOKEN"];

/// Builds the settings for `p2p`, with state under `<cache_dir>/mesh`. `env` reads variables
/// (the process environment in production).
pub fn settings(
    p2p: &P2pConfig,
    cache_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<MeshSettings> {
    if !p2p.security.encryption {
        anyhow::bail!(
            "security.encryption.enabled is false, but ghmesh always seals mesh payloads: \
             remove the setting or disable the mesh"
        );
    }
    let secret = fleet_secret(p2p.security.use_github_token, &env)?;
    let keys = FleetKeys::derive(secret.as_bytes(), p2p.security.pbkdf2_iterations)
        .map_err(|e| anyhow::anyhow!("cannot derive fleet keys: {e}"))?;
    let listen = if p2p.network.listen_addresses.is_empty() {
        vec![format!("/ip4/0.0.0.0/tcp/{}", p2p.listen_port)]
    } else {
        p2p.network.listen_addresses.clone()
    };
    let bootstrap = if p2p.peer_discovery && p2p.discovery.bootstrap {
        p2p.network.bootstrap_peers.clone()
    } else {
        Vec::new()
    };
    Ok(MeshSettings {
        keys,
        state_dir: cache_dir.join("mesh"),
        listen: multiaddrs(&listen, "network.listen.addresses")?,
        bootstrap: multiaddrs(&bootstrap, "network.bootstrap_peers")?,
        mdns: p2p.peer_discovery && p2p.discovery.mdns,
        fetch_timeout: Duration::from_millis(u64::from(p2p.network.fetch_timeout_ms.max(1))),
        connection_timeout: Duration::from_secs(u64::from(
            p2p.network.connection_timeout_secs.max(1),
        )),
        max_body_bytes: usize::try_from(p2p.security.max_content_size).unwrap_or(usize::MAX),
        max_peers: usize::try_from(p2p.network.max_peers).unwrap_or(usize::MAX),
        kademlia: p2p.peer_discovery && p2p.discovery.kademlia,
        nat: nat_settings(p2p)?,
    })
}

/// Relay, AutoNAT, hole punching and rendezvous. Discovery through relays and rendezvous
/// points follows `p2p.peer_discovery`; being a relay does not.
fn nat_settings(p2p: &P2pConfig) -> anyhow::Result<NatSettings> {
    let d = &p2p.discovery;
    let relays = multiaddrs(&d.relay_addrs, "discovery.relay.relay_addrs")?;
    Ok(NatSettings {
        autonat: d.autonat,
        relay_client: p2p.peer_discovery && d.circuit_relay,
        relay_server: d.relay_server,
        hole_punching: d.hole_punching,
        rendezvous: p2p.peer_discovery && d.rendezvous,
        relays: if p2p.peer_discovery && d.circuit_relay {
            relays
        } else {
            Vec::new()
        },
        max_memory_percent: p2p.network.max_memory_percent,
    })
}

/// `GHMESH_FLEET_SECRET`, else (only when configured) the workflow's GitHub token.
fn fleet_secret(
    use_github_token: bool,
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    if let Some(secret) = env(FLEET_SECRET_VAR).filter(|s| !s.is_empty()) {
        return Ok(secret);
    }
    if use_github_token
        && let Some(token) = TOKEN_VARS
            .iter()
            .find_map(|var| env(var).filter(|s| !s.is_empty()))
    {
        tracing::warn!(
            "deriving the fleet secret from the GitHub token: only runners holding the very same \
             token can join (a per-job GITHUB_TOKEN differs per job); prefer {FLEET_SECRET_VAR}"
        );
        return Ok(token);
    }
    anyhow::bail!(
        "the fleet mesh is enabled but no fleet secret is set: set {FLEET_SECRET_VAR} (the same \
         value on every runner of the fleet), or disable the mesh (--no-p2p)"
    )
}

fn multiaddrs(list: &[String], key: &str) -> anyhow::Result<Vec<Multiaddr>> {
    list.iter()
        .map(|text| {
            text.parse::<Multiaddr>()
                .map_err(|e| anyhow::anyhow!("{key}: `{text}` is not a multiaddr: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn enabled() -> P2pConfig {
        let mut p2p = Config::default().p2p;
        p2p.enabled = true;
        p2p.security.pbkdf2_iterations = crate::crypto::MIN_ITERATIONS;
        p2p
    }

    #[test]
    fn without_a_secret_the_mesh_refuses_to_start() {
        let err = settings(&enabled(), Path::new("/c"), |_| None).unwrap_err();
        assert!(err.to_string().contains(FLEET_SECRET_VAR), "{err}");
        // A GitHub token is used only when configured.
        let token = |v: &str| (v == "GITHUB_TOKEN").then(|| "ghs_0123456789abcdef".to_string());
        assert!(settings(&enabled(), Path::new("/c"), token).is_err());
        let mut p2p = enabled();
        p2p.security.use_github_token = true;
        assert!(settings(&p2p, Path::new("/c"), token).is_ok());
    }

    #[test]
    fn a_short_secret_or_a_bad_address_is_a_clear_error() {
        let short = |v: &str| (v == FLEET_SECRET_VAR).then(|| "short".to_string());
        let err = settings(&enabled(), Path::new("/c"), short).unwrap_err();
        assert!(err.to_string().contains("at least 16"), "{err}");
        let secret =
            |v: &str| (v == FLEET_SECRET_VAR).then(|| "0123456789abcdef-fleet".to_string());
        let mut p2p = enabled();
        p2p.network.bootstrap_peers = vec!["not-an-address".into()];
        let err = settings(&p2p, Path::new("/c"), secret).unwrap_err();
        assert!(err.to_string().contains("network.bootstrap_peers"), "{err}");
        assert!(!err.to_string().contains("0123456789abcdef-fleet"));
    }

    #[test]
    fn nat_traversal_is_on_by_default_and_relays_must_be_multiaddrs() {
        let secret =
            |v: &str| (v == FLEET_SECRET_VAR).then(|| "0123456789abcdef-fleet".to_string());
        let nat = settings(&enabled(), Path::new("/c"), secret).unwrap().nat;
        assert!(nat.autonat && nat.relay_client && nat.hole_punching && nat.rendezvous);
        assert!(!nat.relay_server && nat.relays.is_empty());

        // The seed's form, without a peer id, is taken (the peer id is learnt on connecting).
        let mut p2p = enabled();
        p2p.discovery.relay_addrs = vec!["/ip4/10.0.0.1/tcp/4001".into()];
        let nat = settings(&p2p, Path::new("/c"), secret).unwrap().nat;
        assert_eq!(nat.relays.len(), 1);
        p2p.discovery.relay_addrs = vec!["10.0.0.1:4001".into()];
        let err = settings(&p2p, Path::new("/c"), secret).unwrap_err();
        assert!(
            err.to_string().contains("discovery.relay.relay_addrs"),
            "{err}"
        );

        // Without peer discovery, no relay or rendezvous point is used to find peers.
        let mut p2p = enabled();
        p2p.peer_discovery = false;
        p2p.discovery.relay_addrs = vec![
            "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"
                .into(),
        ];
        let nat = settings(&p2p, Path::new("/c"), secret).unwrap().nat;
        assert!(!nat.relay_client && !nat.rendezvous && nat.relays.is_empty());
    }

    #[test]
    fn defaults_listen_on_every_interface_at_the_configured_port() {
        let secret =
            |v: &str| (v == FLEET_SECRET_VAR).then(|| "0123456789abcdef-fleet".to_string());
        let s = settings(&enabled(), Path::new("/c"), secret).unwrap();
        assert_eq!(
            s.listen,
            vec!["/ip4/0.0.0.0/tcp/4001".parse::<Multiaddr>().unwrap()]
        );
        assert_eq!(s.state_dir, Path::new("/c/mesh"));
    }
}
