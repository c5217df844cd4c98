//! The libp2p stack: TCP, then the private-network handshake (pnet, keyed from the fleet secret:
//! a node without it cannot complete a connection), then noise and yamux; and the behaviours
//! the mesh runs on it. Relayed connections (circuit relay v2) run noise and yamux inside a
//! stream of a pnet connection to the relay; the NAT-traversal behaviours are built in [`nat`].

mod nat;

use super::codec::{FETCH_PROTOCOL, FrameCodec, SCAN_PROTOCOL};
use super::scan::{MAX_SCAN_REQUEST_BYTES, MAX_SCAN_RESPONSE_BYTES};
use super::wire::{MAX_GOSSIP_BYTES, MAX_REQUEST_BYTES};
use libp2p::core::transport::upgrade::Version;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Swarm, SwarmBuilder, Transport, allow_block_list, autonat, connection_limits, dcutr, gossipsub,
    identify, identity, kad, mdns, memory_connection_limits, noise, ping, relay, rendezvous,
    request_response, tcp, yamux,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The gossip topic of announcements.
pub const TOPIC: &str = "github-cache/1.0.0";
/// The gossip topic of CodeQL result announcements.
pub const SCAN_TOPIC: &str = "github-cache/codeql/1.0.0";
/// How long a connection no behaviour needs stays open.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// Identify's protocol version: peers of another fleet protocol are told apart by it.
const IDENTIFY_PROTOCOL: &str = "/ghmesh/1.0.0";

/// Everything the mesh speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Peers banned for repeated faults.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Bounds on connections: per peer, pending incoming and in total.
    pub limits: connection_limits::Behaviour,
    /// No new connections while the process holds too much of the machine's memory.
    pub memory: memory_connection_limits::Behaviour,
    /// Announcements and invalidations.
    pub gossipsub: gossipsub::Behaviour,
    /// `/github-cache/fetch/1.0.0`.
    pub fetch: request_response::Behaviour<FrameCodec>,
    /// `/github-cache/codeql/1.0.0`.
    pub scans: request_response::Behaviour<FrameCodec>,
    /// Listen addresses and protocols of peers.
    pub identify: identify::Behaviour,
    /// Round-trip times.
    pub ping: ping::Behaviour,
    /// LAN discovery, when enabled.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Content routing (provider records), when enabled: see [`super::routing`].
    pub kad: Toggle<kad::Behaviour<super::routing::ProviderStore>>,
    /// Reservations at relays and circuits through them.
    pub relay_client: relay::client::Behaviour,
    /// Relaying for others, with `--relay`.
    pub relay_server: Toggle<relay::Behaviour>,
    /// Reachability probes (AutoNAT v1).
    pub autonat: Toggle<autonat::Behaviour>,
    /// Hole punching of relayed connections.
    pub dcutr: Toggle<dcutr::Behaviour>,
    /// Registration at and discovery through rendezvous points.
    pub rendezvous: Toggle<rendezvous::client::Behaviour>,
    /// Being a rendezvous point, with `--relay`.
    pub rendezvous_server: Toggle<rendezvous::server::Behaviour>,
}

/// Tunables of the stack.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// The private-network key derived from the fleet secret.
    pub network_key: [u8; 32],
    /// Multicast DNS on the LAN.
    pub mdns: bool,
    /// Kademlia content routing.
    pub kademlia: bool,
    /// Time allowed to answer a fetch request.
    pub request_timeout: Duration,
    /// Time allowed to set up a connection.
    pub connection_timeout: Duration,
    /// Largest fetch response accepted.
    pub max_response_bytes: usize,
    /// Time allowed to answer a CodeQL request (a SARIF of up to 32 MiB).
    pub scan_request_timeout: Duration,
    /// Most peers kept connected (bounds connections in total).
    pub max_peers: usize,
    /// NAT traversal and memory bound.
    pub nat: super::NatSettings,
}

/// Builds the swarm for `keypair`.
pub fn build(
    keypair: identity::Keypair,
    settings: &StackSettings,
) -> anyhow::Result<Swarm<Behaviour>> {
    let psk = PreSharedKey::new(settings.network_key);
    let connection_timeout = settings.connection_timeout;
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                let noise = noise::Config::new(key)?;
                Ok(
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                        .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
                        .upgrade(Version::V1Lazy)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default())
                        .timeout(connection_timeout),
                )
            },
        )?
        .with_relay_client(noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key, relay_client| behaviour(key, relay_client, settings))?
        // Connections gossipsub meshes over stay open (its handler keeps them alive); others
        // close after two idle minutes, so the peers a DHT query met do not stay connected in a
        // large fleet. A small fleet stays fully connected: every peer is in the gossip mesh, and
        // the node redials while it has fewer than `node::MIN_CONNECTED` peers.
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

fn behaviour(
    key: &identity::Keypair,
    relay_client: relay::client::Behaviour,
    settings: &StackSettings,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let peer_id = key.public().to_peer_id();
    let gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config()?,
    )?;
    let fetch = request_response::Behaviour::with_codec(
        FrameCodec::new(MAX_REQUEST_BYTES, settings.max_response_bytes),
        [(FETCH_PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(settings.request_timeout),
    );
    let scans = request_response::Behaviour::with_codec(
        FrameCodec::new(MAX_SCAN_REQUEST_BYTES, MAX_SCAN_RESPONSE_BYTES),
        [(SCAN_PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(settings.scan_request_timeout),
    );
    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
            .with_push_listen_addr_updates(true),
    );
    let mdns = if settings.mdns {
        Some(mdns::tokio::Behaviour::new(
            mdns::Config::default(),
            peer_id,
        )?)
    } else {
        None
    };
    Ok(Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits: nat::connection_limits(settings.max_peers, settings.nat.relay_server),
        memory: nat::memory_limits(settings.nat.max_memory_percent),
        gossipsub,
        fetch,
        scans,
        identify,
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(5))),
        mdns: mdns.into(),
        kad: settings
            .kademlia
            .then(|| super::routing::behaviour(peer_id))
            .into(),
        relay_client,
        relay_server: settings
            .nat
            .relay_server
            .then(|| nat::relay_server(peer_id))
            .into(),
        autonat: settings.nat.autonat.then(|| nat::autonat(peer_id)).into(),
        dcutr: settings
            .nat
            .hole_punching
            .then(|| dcutr::Behaviour::new(peer_id))
            .into(),
        rendezvous: settings
            .nat
            .rendezvous
            .then(|| rendezvous::client::Behaviour::new(key.clone()))
            .into(),
        rendezvous_server: settings
            .nat
            .relay_server
            .then(nat::rendezvous_server)
            .into(),
    })
}

/// Gossipsub tuned for fleets of a handful to a few dozen runners: a fast heartbeat so a new peer
/// joins the mesh within a second, flood publishing so an announcement reaches every connected
/// peer directly even before the mesh forms, messages validated by the mesh before they are
/// forwarded, and ids by content so the same bytes are delivered once.
fn gossip_config() -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .mesh_n_low(2)
        .mesh_n(4)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .flood_publish(true)
        .max_transmit_size(MAX_GOSSIP_BYTES + 1024)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .duplicate_cache_time(Duration::from_secs(300))
        .message_id_fn(|message| {
            gossipsub::MessageId::from(hex::encode(&Sha256::digest(&message.data)[..20]))
        })
        .build()
}
