//! Reaching peers across NATs, in the network task: which connections are relayed, reservations
//! at relays, AutoNAT's verdict, hole-punch outcomes, rendezvous registration and discovery, and
//! the fallback from a peer's direct addresses to its circuit addresses. Rendezvous
//! registration and discovery are in [`rendezvous`].

mod rendezvous;

use super::Node;
use crate::mesh::connectivity::{Connectivity, NatSettings, NatTraversal};
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError};
use libp2p::{Multiaddr, PeerId, autonat, dcutr, identify, relay};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Relays reserved at through discovery (configured relays are always used): two keep a
/// runner reachable when one relay restarts.
const MAX_DISCOVERED_RELAYS: usize = 2;

/// What AutoNAT concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reachability {
    Unknown,
    Public,
    Private,
}

/// One open connection.
struct Connection {
    peer: PeerId,
    relayed: bool,
    /// The address dialled, when this node dialled it (a relay is reserved at through it).
    dialled: Option<Multiaddr>,
}

/// The connectivity part of the network task's state.
pub(super) struct ConnectivityState {
    settings: NatSettings,
    /// Configured relays by peer id.
    configured_relays: HashMap<PeerId, Multiaddr>,
    /// Configured relay addresses without a peer id (the seed's form): dialled until a
    /// connection to one tells its peer id, which moves it to `configured_relays`.
    unnamed_relays: Vec<Multiaddr>,
    /// Peers that offered the relay hop protocol, with the address they were dialled at.
    relays: HashMap<PeerId, Multiaddr>,
    /// Circuit listeners opened through relays.
    listeners: HashMap<ListenerId, PeerId>,
    /// Relays holding an accepted reservation.
    reservations: HashSet<PeerId>,
    reachability: Reachability,
    connections: HashMap<ConnectionId, Connection>,
    /// Peers learned of by any discovery method.
    discovered: HashSet<PeerId>,
    /// Connected rendezvous points, with when they were last asked.
    rendezvous_points: HashMap<PeerId, Option<Instant>>,
    cookies: HashMap<PeerId, libp2p::rendezvous::Cookie>,
    /// Rendezvous points that accepted this node's registration.
    registered: HashSet<PeerId>,
    namespace: libp2p::rendezvous::Namespace,
    /// Circuit addresses held back while a peer's direct addresses are tried.
    fallback: HashMap<PeerId, Vec<Multiaddr>>,
    direct_upgrades: u64,
    hole_punch_failures: u64,
    relay_fallbacks: u64,
    circuits_relayed: usize,
    /// Discovery methods running besides those seen here (set at start; others may add).
    discovery: Vec<String>,
}

/// Whether `addr` runs through a relay.
pub(super) fn is_circuit(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// The peer id a multiaddr ends with, if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

impl ConnectivityState {
    /// State for `settings`; `discovery` names the methods configured outside this module.
    pub(super) fn new(
        settings: NatSettings,
        network_key: &[u8; 32],
        discovery: Vec<String>,
    ) -> Self {
        let (named, unnamed): (Vec<_>, Vec<_>) = settings
            .relays
            .iter()
            .cloned()
            .partition(|addr| peer_of(addr).is_some());
        let configured_relays = named
            .into_iter()
            .filter_map(|addr| peer_of(&addr).map(|peer| (peer, addr)))
            .collect();
        Self {
            settings,
            configured_relays,
            unnamed_relays: unnamed,
            relays: HashMap::new(),
            listeners: HashMap::new(),
            reservations: HashSet::new(),
            reachability: Reachability::Unknown,
            connections: HashMap::new(),
            discovered: HashSet::new(),
            rendezvous_points: HashMap::new(),
            cookies: HashMap::new(),
            registered: HashSet::new(),
            namespace: rendezvous::namespace(network_key),
            fallback: HashMap::new(),
            direct_upgrades: 0,
            hole_punch_failures: 0,
            relay_fallbacks: 0,
            circuits_relayed: 0,
            discovery,
        }
    }

    /// The stats as they stand; `discovered` adds peers found by methods tracked elsewhere.
    pub(super) fn snapshot(&self, known_peers: impl IntoIterator<Item = PeerId>) -> Connectivity {
        let mut discovered = self.discovered.clone();
        discovered.extend(known_peers);
        let mut direct: HashSet<PeerId> = HashSet::new();
        let mut relayed: HashSet<PeerId> = HashSet::new();
        for c in self.connections.values() {
            if c.relayed {
                relayed.insert(c.peer);
            } else {
                direct.insert(c.peer);
            }
        }
        let mut transports = vec!["tcp".to_string()];
        if self.settings.relay_client || self.settings.relay_server {
            transports.push("p2p-circuit".into());
        }
        let mut connectivity = Connectivity {
            discovered_peers: discovered.len(),
            relay_peers: relayed.difference(&direct).count(),
            reachability: match self.reachability {
                Reachability::Unknown => "unknown",
                Reachability::Public => "public",
                Reachability::Private => "private",
            }
            .into(),
            transports,
            discovery: Vec::new(),
            nat_traversal: NatTraversal {
                autonat: self.settings.autonat,
                relay_client: self.settings.relay_client,
                relay_server: self.settings.relay_server,
                hole_punching: self.settings.hole_punching,
                direct_upgrades: self.direct_upgrades,
                hole_punch_failures: self.hole_punch_failures,
                relay_fallbacks: self.relay_fallbacks,
                relayed_connections: self.connections.values().filter(|c| c.relayed).count(),
                reservations: self.reservations.len(),
                circuits_relayed: self.circuits_relayed,
            },
        };
        for method in &self.discovery {
            connectivity.add_discovery(method);
        }
        if self.settings.rendezvous {
            connectivity.add_discovery("rendezvous");
        }
        connectivity
    }

    /// Peers whose open connections all run through a relay (base58).
    pub(super) fn relayed_peers(&self) -> HashSet<String> {
        let direct: HashSet<PeerId> = self
            .connections
            .values()
            .filter(|c| !c.relayed)
            .map(|c| c.peer)
            .collect();
        self.connections
            .values()
            .filter(|c| c.relayed && !direct.contains(&c.peer))
            .map(|c| c.peer.to_base58())
            .collect()
    }
}

impl Node {
    /// After the listeners bound: a relay announces its addresses as reachable (the relay and
    /// rendezvous servers serve only once the node has a confirmed external address), and the
    /// configured relays are dialled.
    pub(super) fn connectivity_started(&mut self, listen_addrs: &[Multiaddr]) {
        for addr in listen_addrs {
            self.listening_on(addr);
        }
        let relays = self.net.configured_relays.values();
        let relays: Vec<Multiaddr> = relays.chain(&self.net.unnamed_relays).cloned().collect();
        for addr in relays {
            self.dial(addr);
        }
    }

    /// A new listen address: a relay confirms it as an external address.
    pub(super) fn listening_on(&mut self, addr: &Multiaddr) {
        if self.net.settings.relay_server && !is_circuit(addr) {
            self.swarm.add_external_address(addr.clone());
        }
    }

    /// A connection opened: is it relayed, and is its peer a configured relay?
    pub(super) fn connection_opened(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let relayed = match endpoint {
            ConnectedPoint::Dialer { address, .. } => is_circuit(address),
            ConnectedPoint::Listener {
                local_addr,
                send_back_addr,
            } => is_circuit(local_addr) || is_circuit(send_back_addr),
        };
        let dialled = match endpoint {
            ConnectedPoint::Dialer { address, .. } if !relayed => Some(address.clone()),
            _ => None,
        };
        if relayed {
            tracing::info!(%peer, "relayed connection open");
        }
        if let Some(addr) = &dialled
            && let Some(at) = self.net.unnamed_relays.iter().position(|a| a == addr)
        {
            let addr = self.net.unnamed_relays.swap_remove(at);
            self.net.configured_relays.insert(peer, addr);
        }
        self.net.fallback.remove(&peer);
        self.net.connections.insert(
            id,
            Connection {
                peer,
                relayed,
                dialled,
            },
        );
    }

    /// A connection closed; a relay whose last connection closed takes its reservation along.
    pub(super) fn connection_gone(&mut self, peer: PeerId, id: ConnectionId) {
        self.net.connections.remove(&id);
        if !self.net.connections.values().any(|c| c.peer == peer) {
            self.net.reservations.remove(&peer);
            self.net.rendezvous_points.remove(&peer);
            self.net.registered.remove(&peer);
        }
    }

    /// A dial failed: a peer whose direct addresses all failed is dialled through its relays.
    pub(super) fn dial_failed(&mut self, peer: Option<PeerId>) {
        let Some(peer) = peer else { return };
        if self.swarm.is_connected(&peer) {
            return;
        }
        if let Some(circuits) = self.net.fallback.remove(&peer)
            && !circuits.is_empty()
        {
            tracing::info!(%peer, "direct dial failed; dialling through a relay");
            self.net.relay_fallbacks += 1;
            let opts = DialOpts::peer_id(peer).addresses(circuits).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, "relayed dial failed: {e}");
            }
        }
    }

    /// A circuit listener closed: its reservation is gone.
    pub(super) fn listener_gone(&mut self, id: ListenerId) {
        if let Some(relay) = self.net.listeners.remove(&id) {
            tracing::info!(%relay, "reservation at relay closed");
            self.net.reservations.remove(&relay);
        }
    }

    /// Dials a discovered peer: its direct addresses first, its circuit addresses when those fail.
    pub(super) fn dial_discovered(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        self.net.discovered.insert(peer);
        if self.swarm.is_connected(&peer) || self.book.is_banned(&peer) {
            return;
        }
        let (circuits, direct): (Vec<_>, Vec<_>) = addrs.into_iter().partition(is_circuit);
        let circuits = if self.net.settings.relay_client {
            circuits
        } else {
            Vec::new()
        };
        self.book.add_addresses(peer, direct.clone());
        let first = if direct.is_empty() {
            circuits
        } else {
            self.net.fallback.insert(peer, circuits);
            direct
        };
        if first.is_empty() {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(first)
            .build();
        match self.swarm.dial(opts) {
            Ok(()) => {}
            // A dial to this peer is under way: its failure falls back, not this.
            Err(DialError::DialPeerConditionFalse(_)) => {}
            Err(e) => {
                tracing::debug!(%peer, "dial failed: {e}");
                self.dial_failed(Some(peer));
            }
        }
    }

    /// Identify told what a peer speaks: relays and rendezvous points are put to use.
    pub(super) fn identified(&mut self, peer: PeerId, info: &identify::Info) {
        if info.protocols.contains(&relay::HOP_PROTOCOL_NAME) {
            let dialled = self
                .net
                .connections
                .values()
                .find(|c| c.peer == peer && c.dialled.is_some())
                .and_then(|c| c.dialled.clone());
            let addr = self.net.configured_relays.get(&peer).cloned().or(dialled);
            if let Some(addr) = addr
                && self.net.relays.insert(peer, addr).is_none()
            {
                tracing::info!(%peer, "peer is a relay");
            }
            self.reserve();
        }
        if info.protocols.contains(&libp2p::rendezvous::PROTOCOL_NAME) {
            self.rendezvous_point_met(peer);
        }
    }

    /// Reserves at relays through which this node should be reachable: the configured ones
    /// always, discovered ones when AutoNAT says this node is private.
    fn reserve(&mut self) {
        if !self.net.settings.relay_client {
            return;
        }
        let private = self.net.reachability == Reachability::Private;
        let mut discovered_in_use = self
            .net
            .listeners
            .values()
            .filter(|r| !self.net.configured_relays.contains_key(r))
            .count();
        let relays: Vec<(PeerId, Multiaddr)> = self
            .net
            .relays
            .iter()
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for (relay, addr) in relays {
            if self.net.listeners.values().any(|r| *r == relay) {
                continue;
            }
            let configured = self.net.configured_relays.contains_key(&relay);
            if !configured && (!private || discovered_in_use >= MAX_DISCOVERED_RELAYS) {
                continue;
            }
            let base = addr.with_p2p(relay).unwrap_or_else(|a| a);
            let circuit = base.with(Protocol::P2pCircuit);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    tracing::info!(%circuit, "reserving at relay");
                    self.net.listeners.insert(id, relay);
                    if !configured {
                        discovered_in_use += 1;
                    }
                }
                Err(e) => tracing::warn!(%circuit, "cannot listen through relay: {e}"),
            }
        }
    }

    /// Periodic work: redial configured relays, retry reservations and registrations,
    /// rediscover.
    pub(super) fn connectivity_tick(&mut self) {
        let relays: Vec<(PeerId, Multiaddr)> = self
            .net
            .configured_relays
            .iter()
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        for (relay, addr) in relays {
            if !self.swarm.is_connected(&relay) && !self.book.is_banned(&relay) {
                self.dial(addr);
            }
        }
        for addr in self.net.unnamed_relays.clone() {
            self.dial(addr);
        }
        self.reserve();
        self.rendezvous_tick();
    }

    pub(super) fn relay_client_event(&mut self, event: relay::client::Event) {
        match event {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                ..
            } => {
                if !renewal {
                    tracing::info!(relay = %relay_peer_id, "reservation accepted");
                }
                self.net.reservations.insert(relay_peer_id);
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, .. } => {
                tracing::info!(peer = %src_peer_id, "inbound circuit through a relay");
            }
            relay::client::Event::OutboundCircuitEstablished { relay_peer_id, .. } => {
                tracing::info!(relay = %relay_peer_id, "outbound circuit through a relay");
            }
        }
    }

    pub(super) fn relay_server_event(&mut self, event: relay::Event) {
        match event {
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, "relaying a circuit");
                self.net.circuits_relayed += 1;
            }
            relay::Event::CircuitClosed { .. } => {
                self.net.circuits_relayed = self.net.circuits_relayed.saturating_sub(1);
            }
            relay::Event::ReservationReqAccepted { src_peer_id, .. } => {
                tracing::debug!(peer = %src_peer_id, "holding a reservation");
            }
            other => tracing::debug!("relay: {other:?}"),
        }
    }

    pub(super) fn autonat_event(&mut self, event: autonat::Event) {
        if let autonat::Event::StatusChanged { new, .. } = event {
            self.net.reachability = match new {
                autonat::NatStatus::Public(addr) => {
                    tracing::info!(%addr, "AutoNAT: publicly reachable");
                    Reachability::Public
                }
                autonat::NatStatus::Private => {
                    tracing::info!("AutoNAT: behind NAT or firewall");
                    Reachability::Private
                }
                autonat::NatStatus::Unknown => Reachability::Unknown,
            };
            self.reserve();
        }
    }

    pub(super) fn dcutr_event(&mut self, event: dcutr::Event) {
        match event.result {
            Ok(direct) => {
                let peer = event.remote_peer_id;
                tracing::info!(%peer, "hole punched: direct connection");
                self.net.direct_upgrades += 1;
                // The relayed connections have done their job; closing them frees the relay's
                // circuit slots and bytes.
                let relayed: Vec<ConnectionId> = self
                    .net
                    .connections
                    .iter()
                    .filter(|(id, c)| c.peer == peer && c.relayed && **id != direct)
                    .map(|(id, _)| *id)
                    .collect();
                for id in relayed {
                    self.swarm.close_connection(id);
                }
            }
            Err(e) => {
                tracing::info!(peer = %event.remote_peer_id, "hole punch failed: {e}");
                self.net.hole_punch_failures += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_addresses_are_told_apart() {
        let relay = PeerId::random();
        let direct: Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse().unwrap();
        let circuit = direct
            .clone()
            .with(Protocol::P2p(relay))
            .with(Protocol::P2pCircuit);
        assert!(!is_circuit(&direct));
        assert!(is_circuit(&circuit));
        assert_eq!(peer_of(&circuit), Some(relay));
    }
}
