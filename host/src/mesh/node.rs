//! The network task: owns the swarm, carries out [`Command`]s, turns what peers send into
//! [`MeshEvent`]s after checking it, and charges faults to the peers that sent garbage.
//! CodeQL results (their topic, protocol and pending requests) are handled in [`scans`].

mod connectivity;
mod routing;
mod scans;

use super::peers::{KnownPeersFile, PeerBook};
use super::swarm::{self, Behaviour, BehaviourEvent, SCAN_TOPIC, StackSettings, TOPIC};
use super::wire::{Announcement, Fault, Request, Response, Sealer, WireEntry};
use super::{Command, MeshEvent, MeshSettings, MeshStatus, PeerEntry, identity};
use crate::private_fs::create_private_dir;
use bytes::Bytes;
use libp2p::futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, gossipsub, identify, mdns, ping};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Below this many connected peers, the node redials every peer it knows (with backoff).
const MIN_CONNECTED: usize = 8;
/// How often unreachable bootstrap peers are redialled and the known-peers file is written.
const TICK: Duration = Duration::from_secs(3);
/// How long a leaving node keeps its swarm running for its goodbye to go out.
const LEAVE_GRACE: Duration = Duration::from_millis(300);

/// A lookup waiting for peers' answers.
struct PendingLookup {
    waiters: Vec<oneshot::Sender<Option<PeerEntry>>>,
    outstanding: HashSet<OutboundRequestId>,
    /// The DHT query naming providers, while it runs.
    search: Option<libp2p::kad::QueryId>,
    /// Providers named but not asked yet.
    queue: std::collections::VecDeque<PeerId>,
    /// Peers asked so far.
    asked: HashSet<PeerId>,
    /// Whether connected peers were asked directly (always without content routing; with
    /// it, only in a small fleet where the DHT named no provider).
    broadcast: bool,
}

/// What an outbound fetch request was for.
enum Outbound {
    /// Part of the lookup of this key.
    Lookup(String),
    /// The body of this entry.
    Body {
        entry: Box<WireEntry>,
        reply: oneshot::Sender<Option<Bytes>>,
    },
}

/// The network task's state.
struct Node {
    swarm: Swarm<Behaviour>,
    sealer: Sealer,
    topic: gossipsub::IdentTopic,
    /// The CodeQL results topic.
    scan_topic: gossipsub::IdentTopic,
    /// CodeQL lookups and SARIF fetches in flight.
    scans: scans::ScanRequests,
    /// For tasks that answer inbound requests; weak, so dropping every [`super::Mesh`] stops
    /// the node.
    commands: mpsc::WeakSender<Command>,
    events: mpsc::Sender<MeshEvent>,
    book: PeerBook,
    known: KnownPeersFile,
    bootstrap: Vec<Multiaddr>,
    max_body: usize,
    max_peers: usize,
    lookups: HashMap<String, PendingLookup>,
    requests: HashMap<OutboundRequestId, Outbound>,
    status: MeshStatus,
    /// Recent announcement delays (ms), newest last, at most [`super::DELAY_SAMPLES`].
    delays: std::collections::VecDeque<u64>,
    /// Provider records and DHT queries.
    routing: routing::Routing,
    /// Relays, reachability, hole punching, rendezvous.
    net: connectivity::ConnectivityState,
}

/// Builds the swarm, binds every listener and spawns the task. Returns the node's peer id.
pub(super) async fn start(
    settings: MeshSettings,
    commands: mpsc::Sender<Command>,
    command_rx: mpsc::Receiver<Command>,
    events: mpsc::Sender<MeshEvent>,
) -> anyhow::Result<PeerId> {
    create_private_dir(&settings.state_dir)?;
    let keypair = identity::load_or_create(&settings.state_dir)?;
    let peer_id = keypair.public().to_peer_id();
    let mut swarm = swarm::build(
        keypair,
        &StackSettings {
            network_key: settings.keys.network_key(),
            mdns: settings.mdns,
            kademlia: settings.kademlia,
            request_timeout: settings.fetch_timeout.max(Duration::from_millis(100)),
            connection_timeout: settings.connection_timeout,
            max_response_bytes: settings.max_body_bytes + 64 * 1024,
            scan_request_timeout: settings.fetch_timeout.max(super::SARIF_FETCH_TIMEOUT),
            max_peers: settings.max_peers.max(1),
            nat: settings.nat.clone(),
        },
    )?;
    let topic = gossipsub::IdentTopic::new(TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
    let scan_topic = gossipsub::IdentTopic::new(SCAN_TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&scan_topic)?;
    let mut listen_addrs = Vec::new();
    for addr in &settings.listen {
        swarm.listen_on(addr.clone())?;
    }
    // Wait until each listener reports an address, so callers can print dialable addresses.
    let bind = async {
        while listen_addrs.len() < settings.listen.len() {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => listen_addrs.push(address),
                SwarmEvent::ListenerError { error, .. } => return Err(anyhow::anyhow!(error)),
                SwarmEvent::ListenerClosed { reason: Err(e), .. } => {
                    return Err(anyhow::anyhow!(e));
                }
                _ => {}
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), bind)
        .await
        .map_err(|_| anyhow::anyhow!("mesh listeners did not bind within 10 s"))??;
    let known = KnownPeersFile::in_dir(&settings.state_dir);
    let mut node = Node {
        status: MeshStatus {
            peer_id: peer_id.to_base58(),
            listen_addrs: listen_addrs
                .iter()
                .map(|a| format!("{a}/p2p/{peer_id}"))
                .collect(),
            ..MeshStatus::default()
        },
        swarm,
        sealer: Sealer::new(settings.keys.clone()),
        topic,
        scan_topic,
        scans: scans::ScanRequests::default(),
        commands: commands.downgrade(),
        events,
        book: PeerBook::default(),
        known,
        bootstrap: settings.bootstrap.clone(),
        max_body: settings.max_body_bytes,
        max_peers: settings.max_peers.max(1),
        lookups: HashMap::new(),
        requests: HashMap::new(),
        delays: std::collections::VecDeque::new(),
        routing: routing::Routing::default(),
        net: connectivity::ConnectivityState::new(
            settings.nat.clone(),
            &settings.keys.network_key(),
            discovery_methods(&settings),
        ),
    };
    node.status.routing.enabled = settings.kademlia;
    node.connectivity_started(&listen_addrs);
    for (peer, addr) in node.known.read() {
        if peer != peer_id {
            node.book.add_addresses(peer, [addr.clone()]);
            node.dial(addr);
        }
    }
    for addr in node.bootstrap.clone() {
        node.dial(addr);
    }
    tokio::spawn(node.run(command_rx));
    Ok(peer_id)
}

/// The discovery methods configured here (the NAT-traversal ones are added by [`connectivity`]).
fn discovery_methods(settings: &MeshSettings) -> Vec<String> {
    let mut methods = Vec::new();
    if settings.mdns {
        methods.push("mdns".to_string());
    }
    if !settings.bootstrap.is_empty() {
        methods.push("bootstrap".to_string());
    }
    if settings.kademlia {
        methods.push("kademlia".to_string());
    }
    methods
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Node {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Leave(done)) => {
                        self.leave().await;
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.swarm_event(event),
                _ = tick.tick() => self.tick(),
            }
        }
        if let Err(e) = self.book.persist(&self.known) {
            tracing::warn!("writing known peers failed: {e}");
        }
        tracing::debug!("mesh node stopped");
    }

    /// Gossips that this node leaves (when it provides through the DHT, so peers stop naming
    /// it), then keeps the swarm running [`LEAVE_GRACE`] so the message goes out.
    async fn leave(&mut self) {
        if !self.swarm.behaviour().kad.is_enabled() {
            return;
        }
        self.publish(Announcement::Leaving);
        let grace = tokio::time::sleep(LEAVE_GRACE);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.swarm_event(event),
                _ = &mut grace => break,
            }
        }
    }

    /// Dials from the listen port, so a peer (a relay, AutoNAT) observes the address a NAT
    /// maps that port to: the address hole punching needs.
    fn dial(&mut self, addr: Multiaddr) {
        let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%addr, "dial failed: {e}");
        }
    }

    /// Dials a peer found by mDNS from a new port, not the listen port: two nodes that find
    /// each other at the same moment (mDNS answers reach both at once) would otherwise open one
    /// TCP connection from both ends, both negotiate as the dialer, and both dials fail.
    fn dial_new_port(&mut self, addr: Multiaddr) {
        let opts = DialOpts::unknown_peer_id()
            .address(addr.clone())
            .allocate_new_port()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%addr, "dial failed: {e}");
        }
    }

    /// Redials bootstrap peers that are not connected and saves the known peers.
    fn tick(&mut self) {
        let connected: HashSet<PeerId> = self.book.connected().into_iter().collect();
        for addr in self.bootstrap.clone() {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            });
            let reached = match peer {
                Some(peer) => connected.contains(&peer) || self.book.is_banned(&peer),
                None => !connected.is_empty(),
            };
            if !reached {
                self.dial(addr);
            }
        }
        // Peers met through mDNS, identify or the known-peers file are redialled too when their
        // connection drops (with backoff), not only the bootstrap peers — while the node has few
        // peers: in a large fleet, connections the DHT opened are meant to close when idle.
        let redial = if connected.len() < MIN_CONNECTED {
            self.book.due_for_redial(std::time::Instant::now())
        } else {
            Vec::new()
        };
        for (peer, addrs) in redial {
            if !self.swarm.is_connected(&peer) {
                for addr in addrs {
                    self.dial(addr.with_p2p(peer).unwrap_or_else(|a| a));
                }
            }
        }
        self.connectivity_tick();
        if let Err(e) = self.book.persist(&self.known) {
            tracing::warn!("writing known peers failed: {e}");
        }
        self.expire_provided();
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Lookup { key, reply } => self.lookup(key, reply),
            Command::FetchBody { peer, entry, reply } => {
                let frame = self.sealer.seal_request(&Request::Body {
                    cid: entry.cid.clone(),
                });
                let id = self.send_fetch(peer, frame);
                self.requests.insert(id, Outbound::Body { entry, reply });
            }
            Command::Publish(announcement) => self.publish(announcement),
            Command::Provide {
                key,
                held,
                expires_at,
            } => self.provide(key, held, expires_at),
            Command::Withdraw(key) => self.withdraw(&key),
            Command::Respond {
                channel,
                response,
                peer,
            } => {
                if matches!(response, Response::Entry { .. } | Response::Body(_)) {
                    self.book.served_by_us(peer);
                }
                let frame = self.sealer.seal_response(&response);
                if self
                    .swarm
                    .behaviour_mut()
                    .fetch
                    .send_response(channel, frame)
                    .is_err()
                {
                    tracing::debug!(%peer, "peer gone before its answer was sent");
                }
            }
            Command::LookupScan { .. }
            | Command::FetchSarif { .. }
            | Command::PublishScan(_)
            | Command::RespondScan { .. } => self.scan_command(command),
            Command::Dial(addrs) => addrs.into_iter().for_each(|addr| self.dial(addr)),
            // Handled by the run loop, which stops the node after it.
            Command::Leave(done) => {
                let _ = done.send(());
            }
            Command::Status(reply) => {
                let mut status = self.status.clone();
                status.peers = self.book.snapshot();
                status.connected_peers = self.book.connected().len();
                status.announcement_delay_ms = super::DelaySummary::of(self.delays.iter().copied());
                self.routing_status(&mut status.routing);
                status.connectivity = self.net.snapshot(self.book.known_peers());
                let relayed = self.net.relayed_peers();
                for peer in &mut status.peers {
                    peer.relayed = relayed.contains(&peer.peer_id);
                }
                let _ = reply.send(status);
            }
        }
    }

    fn publish(&mut self, announcement: Announcement) {
        let frame = self.sealer.seal_announcement(announcement, now_ms());
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), frame)
        {
            Ok(_) => {
                self.status.announcements_sent += 1;
                self.status.traffic.gossip_published += 1;
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::debug!("announcement not published: {e}"),
        }
    }

    /// Starts a lookup: through provider records when content routing is on, else by asking
    /// every connected peer. A second lookup of the same key waits on the first.
    fn lookup(&mut self, key: String, reply: oneshot::Sender<Option<PeerEntry>>) {
        if let Some(pending) = self.lookups.get_mut(&key) {
            pending.waiters.push(reply);
            return;
        }
        let search = self.find_providers(&key);
        self.lookups.insert(
            key.clone(),
            PendingLookup {
                waiters: vec![reply],
                outstanding: HashSet::new(),
                search,
                queue: std::collections::VecDeque::new(),
                asked: HashSet::new(),
                broadcast: false,
            },
        );
        if search.is_none() {
            self.broadcast_lookup(&key);
        }
        self.settle_lookup(&key);
    }

    /// Asks every connected peer not asked yet for `key`.
    fn broadcast_lookup(&mut self, key: &str) {
        let frame = self.sealer.seal_request(&Request::Lookup {
            key: key.to_string(),
        });
        let peers = self.book.connected();
        let Some(pending) = self.lookups.get_mut(key) else {
            return;
        };
        pending.broadcast = true;
        let fresh: Vec<PeerId> = peers
            .into_iter()
            .filter(|peer| pending.asked.insert(*peer))
            .collect();
        for peer in fresh {
            self.ask(key, peer, frame.clone());
        }
    }

    /// Sends one lookup request for `key` to `peer`.
    fn ask(&mut self, key: &str, peer: PeerId, frame: Vec<u8>) {
        let id = self.send_fetch(peer, frame);
        self.requests.insert(id, Outbound::Lookup(key.to_string()));
        if let Some(pending) = self.lookups.get_mut(key) {
            pending.outstanding.insert(id);
        }
    }

    /// Sends a fetch-protocol request, counting it.
    fn send_fetch(&mut self, peer: PeerId, frame: Vec<u8>) -> OutboundRequestId {
        self.status.traffic.requests_sent += 1;
        self.swarm.behaviour_mut().fetch.send_request(&peer, frame)
    }

    /// One peer's answer (or failure) to a lookup. `found` resolves every waiter; otherwise the
    /// next providers are asked, and the lookup ends with `None` once nobody is left to ask.
    fn lookup_answered(
        &mut self,
        key: &str,
        peer: PeerId,
        id: OutboundRequestId,
        found: Option<PeerEntry>,
    ) {
        let Some(pending) = self.lookups.get_mut(key) else {
            return;
        };
        pending.outstanding.remove(&id);
        if found.is_some() {
            self.finish_lookup(key, found);
            return;
        }
        self.provider_missed(key, peer);
        self.settle_lookup(key);
    }

    /// Resolves every waiter of `key` with `found` and stops what is still in flight for it.
    fn finish_lookup(&mut self, key: &str, found: Option<PeerEntry>) {
        let Some(pending) = self.lookups.remove(key) else {
            return;
        };
        for id in &pending.outstanding {
            self.requests.remove(id);
        }
        self.lookup_finished(pending.search, found.is_some());
        for waiter in pending.waiters {
            let _ = waiter.send(found.clone());
        }
    }

    fn fault(&mut self, peer: PeerId, fault: &Fault) {
        if !fault.penalised() {
            self.status.unknown_versions += 1;
            tracing::info!(%peer, "ignored a message: {fault}");
            return;
        }
        self.status.messages_rejected += 1;
        tracing::warn!(%peer, "rejected a message: {fault}");
        if self.book.fault(peer) {
            tracing::warn!(%peer, "peer banned after repeated faults");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
        }
    }

    fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                connection_id,
                endpoint,
                ..
            } => {
                self.connection_opened(peer_id, connection_id, &endpoint);
                if num_established.get() == 1 && self.book.connected().len() >= self.max_peers {
                    tracing::info!(peer = %peer_id, "peer limit reached; disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                tracing::info!(peer = %peer_id, "peer connected");
                self.book.set_connected(peer_id, true);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                connection_id,
                ..
            } => {
                self.connection_gone(peer_id, connection_id);
                if num_established == 0 {
                    tracing::info!(peer = %peer_id, "peer disconnected");
                    self.book.set_connected(peer_id, false);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, .. } => self.dial_failed(peer_id),
            SwarmEvent::ListenerClosed { listener_id, .. } => self.listener_gone(listener_id),
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listening_on(&address);
                let shown = format!("{address}/p2p/{}", self.status.peer_id);
                if !self.status.listen_addrs.contains(&shown) {
                    self.status.listen_addrs.push(shown);
                }
            }
            SwarmEvent::Behaviour(event) => self.behaviour_event(event),
            _ => {}
        }
    }

    fn behaviour_event(&mut self, event: BehaviourEvent) {
        if let BehaviourEvent::Gossipsub(gossipsub::Event::Message { .. }) = &event {
            self.status.traffic.gossip_received += 1;
        }
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) if message.topic == self.scan_topic.hash() => {
                self.scan_announcement(propagation_source, &message_id, message);
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.announcement(propagation_source, &message_id, message),
            BehaviourEvent::Fetch(event) => self.fetch_event(event),
            BehaviourEvent::Scans(event) => self.scan_event(event),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.routing_learned(peer_id, &info);
                self.identified(peer_id, &info);
                self.book.add_addresses(peer_id, info.listen_addrs);
            }
            BehaviourEvent::Kad(event) => self.kad_event(event),
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => self.book.set_rtt(peer, rtt),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) && !self.book.is_banned(&peer) {
                        tracing::info!(%peer, %addr, "discovered by mDNS");
                        self.book.add_addresses(peer, [addr.clone()]);
                        self.dial_new_port(addr.with_p2p(peer).unwrap_or_else(|a| a));
                    }
                }
            }
            BehaviourEvent::RelayClient(event) => self.relay_client_event(event),
            BehaviourEvent::RelayServer(event) => self.relay_server_event(event),
            BehaviourEvent::Autonat(event) => self.autonat_event(event),
            BehaviourEvent::Dcutr(event) => self.dcutr_event(event),
            BehaviourEvent::Rendezvous(event) => self.rendezvous_event(event),
            BehaviourEvent::RendezvousServer(event) => self.rendezvous_server_event(event),
            _ => {}
        }
    }

    /// Checks an announcement before gossipsub forwards it or the proxy sees it.
    fn announcement(
        &mut self,
        via: PeerId,
        id: &gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        let author = message.source.unwrap_or(via);
        let now = now_ms();
        let verdict = self
            .sealer
            .open_announcement(&message.data, now)
            .inspect(|envelope| {
                if self.delays.len() == super::DELAY_SAMPLES {
                    self.delays.pop_front();
                }
                self.delays
                    .push_back(now.saturating_sub(envelope.sent_at_ms));
            })
            .and_then(|envelope| match envelope.announcement {
                Announcement::Entry { entry, body } => {
                    if let Some(body) = &body {
                        entry.verify(body)?;
                    } else if entry.share == crate::store::Share::Token {
                        return Err(Fault::TokenScoped);
                    }
                    Ok(Some(MeshEvent::Entry {
                        entry,
                        body: body.map(Bytes::from),
                        from: author,
                    }))
                }
                Announcement::Invalidate { paths } => Ok(Some(MeshEvent::Invalidate {
                    paths,
                    from: author,
                })),
                Announcement::Leaving => {
                    if message.source.is_some() {
                        self.peer_left(author);
                    }
                    Ok(None)
                }
            });
        self.settle_announcement(via, id, author, verdict);
    }

    /// Hands an accepted announcement to the proxy (when it is one for the proxy), or charges
    /// its author the fault; either way tells gossipsub whether to forward it (only accepted
    /// ones travel on).
    pub(super) fn settle_announcement(
        &mut self,
        via: PeerId,
        id: &gossipsub::MessageId,
        author: PeerId,
        verdict: Result<Option<MeshEvent>, Fault>,
    ) {
        let acceptance = match verdict {
            Ok(event) => {
                self.status.announcements_received += 1;
                self.book.announced(author);
                if let Some(event) = event
                    && let Err(e) = self.events.try_send(event)
                {
                    tracing::warn!("announcement not handled: {e}");
                }
                gossipsub::MessageAcceptance::Accept
            }
            Err(fault) => {
                self.fault(author, &fault);
                if fault.penalised() {
                    gossipsub::MessageAcceptance::Reject
                } else {
                    gossipsub::MessageAcceptance::Ignore
                }
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, &via, acceptance);
    }

    fn fetch_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.status.traffic.requests_received += 1;
                    self.inbound_request(peer, &request, channel);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => match self.requests.remove(&request_id) {
                    Some(Outbound::Lookup(key)) => {
                        let found = self.check_answer(peer, &key, &response);
                        self.lookup_answered(&key, peer, request_id, found);
                    }
                    Some(Outbound::Body { entry, reply }) => {
                        let body = self.check_body(peer, &entry, &response);
                        let _ = reply.send(body);
                    }
                    None => {}
                },
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "fetch request failed: {error}");
                match self.requests.remove(&request_id) {
                    Some(Outbound::Lookup(key)) => {
                        self.lookup_answered(&key, peer, request_id, None);
                    }
                    Some(Outbound::Body { reply, .. }) => {
                        let _ = reply.send(None);
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Opens and verifies a peer's answer to a lookup; faults are charged to that peer.
    fn check_answer(&mut self, peer: PeerId, asked: &str, frame: &[u8]) -> Option<PeerEntry> {
        let limit = self.max_body + 64 * 1024;
        let checked = self
            .sealer
            .open_response(frame, limit)
            .and_then(|response| match response {
                Response::Entry { entry, body } => {
                    if entry.key != asked {
                        return Err(Fault::Mismatched);
                    }
                    entry.verify(&body)?;
                    Ok(Some((entry, body)))
                }
                Response::NotFound => Ok(None),
                Response::Body(_) => Err(Fault::Mismatched),
            });
        match checked {
            Ok(Some((entry, body))) if entry.is_fresh(now_ms() / 1000) => {
                self.book.served_to_us(peer);
                Some(PeerEntry {
                    entry: *entry,
                    body: Bytes::from(body),
                    peer,
                })
            }
            Ok(_) => None,
            Err(fault) => {
                self.fault(peer, &fault);
                None
            }
        }
    }

    /// Opens a peer's answer to a body request and checks the body against the entry's CID.
    fn check_body(&mut self, peer: PeerId, entry: &WireEntry, frame: &[u8]) -> Option<Bytes> {
        let limit = self.max_body + 64 * 1024;
        let checked = self
            .sealer
            .open_response(frame, limit)
            .and_then(|response| match response {
                Response::Body(body) => {
                    entry.verify(&body)?;
                    Ok(Some(body))
                }
                Response::NotFound => Ok(None),
                Response::Entry { .. } => Err(Fault::Mismatched),
            });
        self.settle_body(peer, checked)
    }

    /// Credits a peer whose body checked out, or charges it the fault; `None` unless verified.
    pub(super) fn settle_body(
        &mut self,
        peer: PeerId,
        checked: Result<Option<Vec<u8>>, Fault>,
    ) -> Option<Bytes> {
        match checked {
            Ok(Some(body)) => {
                self.book.served_to_us(peer);
                Some(Bytes::from(body))
            }
            Ok(None) => None,
            Err(fault) => {
                self.fault(peer, &fault);
                None
            }
        }
    }

    /// Hands a peer's request to the proxy and answers when it has.
    fn inbound_request(&mut self, peer: PeerId, frame: &[u8], channel: ResponseChannel<Vec<u8>>) {
        let request = match self.sealer.open_request(frame) {
            Ok(request) => request,
            Err(fault) => {
                self.fault(peer, &fault);
                return; // dropping the channel closes the stream: the peer sees a failure
            }
        };
        let Some(commands) = self.commands.upgrade() else {
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let asked = match &request {
                Request::Lookup { key } => Some(key.clone()),
                Request::Body { .. } => None,
            };
            let response = answer(&events, request).await;
            if let (Some(key), Response::NotFound) = (asked, &response) {
                // A peer was sent here for an entry this node no longer holds fresh.
                let _ = commands.send(Command::Withdraw(key)).await;
            }
            let _ = commands
                .send(Command::Respond {
                    channel,
                    response,
                    peer,
                })
                .await;
        });
    }
}

/// Asks the proxy for what a peer requested.
async fn answer(events: &mpsc::Sender<MeshEvent>, request: Request) -> Response {
    match request {
        Request::Lookup { key } => {
            let (reply, answer) = oneshot::channel();
            if events.send(MeshEvent::Lookup { key, reply }).await.is_err() {
                return Response::NotFound;
            }
            match answer.await {
                Ok(Some((entry, body))) => Response::Entry {
                    entry: Box::new(entry),
                    body: body.to_vec(),
                },
                _ => Response::NotFound,
            }
        }
        Request::Body { cid } => {
            let (reply, answer) = oneshot::channel();
            if events.send(MeshEvent::Body { cid, reply }).await.is_err() {
                return Response::NotFound;
            }
            match answer.await {
                Ok(Some(body)) => Response::Body(body.to_vec()),
                _ => Response::NotFound,
            }
        }
    }
}
