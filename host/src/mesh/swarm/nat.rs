//! The behaviours for large fleets and NAT: connection and memory limits, the relay, AutoNAT
//! and the rendezvous point, with limits sized for a fleet rather than the public network.

use libp2p::{PeerId, autonat, connection_limits, memory_connection_limits, relay, rendezvous};
use std::time::Duration;

/// Connections kept to one peer: a direct one, a relayed one while DCUtR upgrades it, and the
/// two of a simultaneous dial before one is dropped.
const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Handshakes in progress at once from unknown dialers: bounds what a flood costs before pnet
/// turns it away.
const MAX_PENDING_INCOMING: u32 = 128;
/// Reservations a relay holds: one per runner behind NAT that uses it.
const RELAY_MAX_RESERVATIONS: usize = 1024;
/// Circuits a relay carries at once, and per runner (a runner talks to many peers through it).
const RELAY_MAX_CIRCUITS: usize = 4096;
const RELAY_MAX_CIRCUITS_PER_PEER: usize = 256;
/// A circuit lasts an hour and carries at most 1 GiB, then the peers reconnect (directly, if
/// hole punching worked, or through the relay again). libp2p's defaults (2 min, 128 KiB) are
/// for strangers on a public relay; here every relayed byte is a fleet member's cache entry.
const RELAY_MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(3600);
const RELAY_MAX_CIRCUIT_BYTES: u64 = 1 << 30;

/// Bounds on connections for a node keeping at most `max_peers` peers; a relay carries a
/// connection to every runner that reserves at it, so its total bound covers the reservations.
pub(super) fn connection_limits(max_peers: usize, relay: bool) -> connection_limits::Behaviour {
    let peers = u32::try_from(max_peers).unwrap_or(u32::MAX);
    let relayed = if relay {
        u32::try_from(RELAY_MAX_RESERVATIONS).unwrap_or(u32::MAX)
    } else {
        0
    };
    let total = peers
        .saturating_mul(2)
        .saturating_add(relayed)
        .saturating_add(16);
    connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
            .with_max_established(Some(total)),
    )
}

/// Refuses new connections while the process uses more than `percent` of the machine's memory.
pub(super) fn memory_limits(percent: u8) -> memory_connection_limits::Behaviour {
    memory_connection_limits::Behaviour::with_max_percentage(
        f64::from(percent.clamp(1, 100)) / 100.0,
    )
}

/// A circuit relay v2 hop for the fleet.
pub(super) fn relay_server(peer_id: PeerId) -> relay::Behaviour {
    relay::Behaviour::new(
        peer_id,
        relay::Config {
            max_reservations: RELAY_MAX_RESERVATIONS,
            max_circuits: RELAY_MAX_CIRCUITS,
            max_circuits_per_peer: RELAY_MAX_CIRCUITS_PER_PEER,
            max_circuit_duration: RELAY_MAX_CIRCUIT_DURATION,
            max_circuit_bytes: RELAY_MAX_CIRCUIT_BYTES,
            ..relay::Config::default()
        },
    )
}

/// AutoNAT v1, probing within seconds of joining. Private addresses count: fleets live in
/// VPCs and LANs, and only fleet members (pnet) can ask for or answer a probe.
pub(super) fn autonat(peer_id: PeerId) -> autonat::Behaviour {
    autonat::Behaviour::new(
        peer_id,
        autonat::Config {
            boot_delay: Duration::from_secs(2),
            retry_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(120),
            throttle_server_period: Duration::from_secs(5),
            only_global_ips: false,
            ..autonat::Config::default()
        },
    )
}

/// A rendezvous point, storing registrations for their minimum lifetime (2 h).
pub(super) fn rendezvous_server() -> rendezvous::server::Behaviour {
    rendezvous::server::Behaviour::new(rendezvous::server::Config::default())
}
