//! Rendezvous, in the network task: registering at every rendezvous point met (nodes run with
//! `--relay`) under the fleet's namespace, asking each for the fleet's registrations, and
//! dialling what it returns (direct addresses first, see [`Node::dial_discovered`]).

use super::super::Node;
use libp2p::{PeerId, rendezvous};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// How often each rendezvous point is asked for newly registered peers.
const RENDEZVOUS_DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// The rendezvous namespace of a fleet: a digest of its network key, so fleets sharing a
/// rendezvous point do not see each other and the namespace reveals nothing of the secret.
pub(super) fn namespace(network_key: &[u8; 32]) -> rendezvous::Namespace {
    let digest = Sha256::new()
        .chain_update(b"ghmesh rendezvous namespace\0")
        .chain_update(network_key)
        .finalize();
    rendezvous::Namespace::new(format!("ghmesh-{}", hex::encode(&digest[..16])))
        .expect("a 39-byte namespace is shorter than the 255-byte limit")
}

impl Node {
    /// A peer offers the rendezvous point protocol: register there and ask it for the fleet.
    pub(super) fn rendezvous_point_met(&mut self, peer: PeerId) {
        if !self.net.settings.rendezvous || self.net.rendezvous_points.contains_key(&peer) {
            return;
        }
        tracing::info!(%peer, "peer is a rendezvous point");
        self.net.rendezvous_points.insert(peer, None);
        self.register_at(peer);
        self.discover_at_rendezvous();
    }

    /// Periodic work: registrations deferred for want of an external address, rediscovery.
    pub(super) fn rendezvous_tick(&mut self) {
        let unregistered: Vec<PeerId> = self
            .net
            .rendezvous_points
            .keys()
            .filter(|p| !self.net.registered.contains(p))
            .copied()
            .collect();
        if self.swarm.external_addresses().next().is_some() {
            for point in unregistered {
                self.register_at(point);
            }
        }
        self.discover_at_rendezvous();
    }

    /// Registers this node at a rendezvous point under the fleet's namespace.
    fn register_at(&mut self, point: PeerId) {
        let namespace = self.net.namespace.clone();
        if let Some(rendezvous) = self.swarm.behaviour_mut().rendezvous.as_mut()
            && let Err(e) = rendezvous.register(namespace, point, None)
        {
            // No external address yet: registration is retried when one is confirmed.
            tracing::debug!(%point, "rendezvous registration deferred: {e}");
        }
    }

    /// Asks each rendezvous point not asked recently for the fleet's registrations.
    fn discover_at_rendezvous(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .net
            .rendezvous_points
            .iter()
            .filter(|(_, at)| at.is_none_or(|at| now - at >= RENDEZVOUS_DISCOVERY_INTERVAL))
            .map(|(p, _)| *p)
            .collect();
        for point in due {
            let namespace = Some(self.net.namespace.clone());
            let cookie = self.net.cookies.get(&point).cloned();
            if let Some(rendezvous) = self.swarm.behaviour_mut().rendezvous.as_mut() {
                rendezvous.discover(namespace, cookie, None, point);
            }
            self.net.rendezvous_points.insert(point, Some(now));
        }
    }

    pub(in crate::mesh::node) fn rendezvous_event(&mut self, event: rendezvous::client::Event) {
        match event {
            rendezvous::client::Event::Discovered {
                rendezvous_node,
                registrations,
                cookie,
            } => {
                self.net.cookies.insert(rendezvous_node, cookie);
                let me = *self.swarm.local_peer_id();
                for registration in registrations {
                    let peer = registration.record.peer_id();
                    if peer != me {
                        let addrs = registration.record.addresses().to_vec();
                        tracing::debug!(%peer, "discovered at a rendezvous point");
                        self.dial_discovered(peer, addrs);
                    }
                }
            }
            rendezvous::client::Event::Registered {
                rendezvous_node, ..
            } => {
                tracing::info!(point = %rendezvous_node, "registered at rendezvous point");
                self.net.registered.insert(rendezvous_node);
            }
            rendezvous::client::Event::RegisterFailed {
                rendezvous_node,
                error,
                ..
            } => {
                tracing::warn!(point = %rendezvous_node, "rendezvous registration failed: {error:?}")
            }
            rendezvous::client::Event::DiscoverFailed {
                rendezvous_node,
                error,
                ..
            } => tracing::warn!(point = %rendezvous_node, "rendezvous discovery failed: {error:?}"),
            rendezvous::client::Event::Expired { peer } => {
                tracing::debug!(%peer, "rendezvous registration expired");
            }
        }
    }

    pub(in crate::mesh::node) fn rendezvous_server_event(
        &mut self,
        event: rendezvous::server::Event,
    ) {
        tracing::debug!("rendezvous point: {event:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_depends_on_the_fleet_and_hides_its_key() {
        let a = namespace(&[1; 32]);
        let b = namespace(&[2; 32]);
        assert_ne!(a, b);
        assert_eq!(a, namespace(&[1; 32]));
        assert!(!a.to_string().contains(&hex::encode([1u8; 32])));
    }
}
