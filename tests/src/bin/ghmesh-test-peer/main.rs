//! `ghmesh-test-peer`: a misbehaving fleet peer for the mesh fault tests. It holds the fleet
//! secret (so the private network lets it in) but not ghmesh's manners:
//!
//! - `forge`: answers every lookup with an authentic entry whose body does not match its CID;
//! - `garbage`: every 200 ms publishes random bytes, a frame sealed with a wrong secret, an
//!   oversized frame, one of an unknown wire version, a stale announcement and a replay of its own
//!   earlier valid announcement, sends the same kinds of garbage as fetch requests, and answers
//!   lookups in an unknown wire version.
//!
//! It prints its address (`/ip4/.../p2p/<id>`) on stdout once listening; the fleet secret comes
//! from `GHMESH_FLEET_SECRET`.

mod frames;
mod stack;

use clap::{Parser, ValueEnum};
use frames::Frames;
use libp2p::futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, request_response};
use stack::{Behaviour, BehaviourEvent, TOPIC};
use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

/// How the peer misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Forged answers to lookups.
    Forge,
    /// Garbage announcements and requests.
    Garbage,
}

/// A misbehaving ghmesh fleet peer.
#[derive(Debug, Parser)]
struct Args {
    /// How to misbehave.
    #[arg(value_enum)]
    mode: Mode,
    /// Fleet secret (the same as the nodes').
    #[arg(long, env = "GHMESH_FLEET_SECRET", hide_env_values = true)]
    secret: String,
    /// PBKDF2 iterations of the fleet keys (the same as the nodes').
    #[arg(long, default_value_t = 100_000)]
    iterations: u32,
    /// Address to listen on.
    #[arg(long, default_value = "/ip4/127.0.0.1/tcp/0")]
    listen: Multiaddr,
    /// Peers to dial, and redial while not connected.
    #[arg(long)]
    dial: Vec<Multiaddr>,
    /// In `garbage` mode, send the faulty announcements in reverse order (a node bans a peer
    /// after a few faults, so one peer's garbage is only read up to there).
    #[arg(long)]
    reverse: bool,
}

/// How often garbage is sent.
const ROUND: Duration = Duration::from_millis(200);
/// How often unconnected peers are redialled.
const REDIAL: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let keys = ghmesh::crypto::FleetKeys::derive(args.secret.as_bytes(), args.iterations)
        .map_err(|e| anyhow::anyhow!("cannot derive the fleet keys: {e}"))?;
    let frames = Frames::new(keys.clone(), &args.secret, args.iterations)?;
    let mut swarm = stack::build(keys.network_key())?;
    let topic = gossipsub::IdentTopic::new(TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
    swarm.listen_on(args.listen.clone())?;
    let mut peer = Peer {
        swarm,
        topic,
        frames,
        args,
        printed: false,
        subscribed: HashSet::new(),
        published_original: false,
    };
    let mut round = tokio::time::interval(ROUND);
    let mut redial = tokio::time::interval(REDIAL);
    loop {
        let garbage = peer.args.mode == Mode::Garbage && !peer.subscribed.is_empty();
        tokio::select! {
            event = peer.swarm.select_next_some() => peer.event(event),
            _ = round.tick(), if garbage => peer.garbage_round(),
            _ = redial.tick() => peer.redial(),
        }
    }
}

/// The test peer's state; one task owns it.
struct Peer {
    swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    frames: Frames,
    args: Args,
    /// Whether the listen address was printed (once: the caller may close the pipe after it).
    printed: bool,
    /// Peers subscribed to the topic: garbage starts once one is.
    subscribed: HashSet<PeerId>,
    /// Whether the valid announcement replayed later went out.
    published_original: bool,
}

impl Peer {
    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } if !self.printed => {
                let mut stdout = std::io::stdout();
                let _ = writeln!(stdout, "{address}/p2p/{}", self.swarm.local_peer_id());
                let _ = stdout.flush();
                self.printed = true;
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                eprintln!("ghmesh-test-peer: connected to {peer_id}");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                eprintln!("ghmesh-test-peer: disconnected from {peer_id}");
                self.subscribed.remove(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed {
                peer_id,
                ..
            })) => {
                self.subscribed.insert(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Fetch(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                let answer = match self.args.mode {
                    Mode::Forge => self.frames.forged_response(&request),
                    Mode::Garbage => Some(self.frames.unknown_version_response()),
                };
                if let Some(answer) = answer {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .fetch
                        .send_response(channel, answer);
                }
            }
            _ => {}
        }
    }

    /// The valid announcement first; from the next round on, garbage announcements and requests.
    fn garbage_round(&mut self) {
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        if !self.published_original {
            let original = self.frames.original();
            self.published_original = gossip.publish(self.topic.clone(), original).is_ok();
            return;
        }
        for (_, frame) in self.frames.gossip_garbage(self.args.reverse) {
            // Refusals (no peer left once banned) are expected; carry on.
            let _ = gossip.publish(self.topic.clone(), frame);
        }
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            for (_, frame) in self.frames.request_garbage() {
                self.swarm.behaviour_mut().fetch.send_request(&peer, frame);
            }
        }
    }

    /// Dials every `--dial` address whose peer is not connected, as a persistent attacker would.
    fn redial(&mut self) {
        for addr in &self.args.dial {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            if !peer.is_some_and(|peer| self.swarm.is_connected(&peer)) {
                let _ = self.swarm.dial(addr.clone());
            }
        }
    }
}
