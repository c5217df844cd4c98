//! The network task's content routing: which keys this node provides, DHT queries for the
//! providers of a missed key, and asking those providers (a few at a time) instead of every
//! connected peer. The policy (TTLs, replicas, how many to ask) is in [`crate::mesh::routing`].

use super::Node;
use crate::mesh::Held;
use crate::mesh::RoutingStatus;
use crate::mesh::routing::{MAX_ASKS, MAX_PROVIDED_KEYS, PARALLEL_ASKS, provides_copy, record_key};
use crate::mesh::wire::Request;
use libp2p::kad::{self, GetProvidersOk, QueryId, QueryResult, store::RecordStore};
use libp2p::{PeerId, identify};
use std::collections::{HashMap, HashSet};

/// A fleet this small (connected peers) is asked directly when the DHT names no provider: a
/// node that just joined may not have a routing table yet, and asking everyone costs little.
const SMALL_FLEET: usize = 8;

/// Content-routing state of the node.
#[derive(Default)]
pub(super) struct Routing {
    /// Provider queries in flight, by the request key they look for.
    queries: HashMap<QueryId, String>,
    /// Keys provided, with the time (Unix seconds) the entry stops being fresh.
    provided: HashMap<String, u64>,
}

impl Node {
    /// Starts a DHT query for the providers of `key`; `None` without content routing.
    pub(super) fn find_providers(&mut self, key: &str) -> Option<QueryId> {
        let kad = self.swarm.behaviour_mut().kad.as_mut()?;
        let id = kad.get_providers(record_key(key));
        self.routing.queries.insert(id, key.to_string());
        self.status.routing.lookups += 1;
        Some(id)
    }

    /// Asks queued providers of `key` (a few in flight at once); once nobody is left to ask and
    /// the DHT query is over, asks a small fleet directly or ends the lookup with `None`.
    pub(super) fn settle_lookup(&mut self, key: &str) {
        let local = *self.swarm.local_peer_id();
        let Some(pending) = self.lookups.get_mut(key) else {
            return;
        };
        let mut to_ask = Vec::new();
        while pending.outstanding.len() + to_ask.len() < PARALLEL_ASKS
            && pending.asked.len() < MAX_ASKS
        {
            let Some(peer) = pending.queue.pop_front() else {
                break;
            };
            if peer != local && pending.asked.insert(peer) {
                to_ask.push(peer);
            }
        }
        if pending.asked.len() >= MAX_ASKS {
            pending.queue.clear();
        }
        if !to_ask.is_empty() {
            let frame = self.sealer.seal_request(&Request::Lookup {
                key: key.to_string(),
            });
            for peer in to_ask {
                self.ask(key, peer, frame.clone());
            }
            return;
        }
        let exhausted =
            pending.outstanding.is_empty() && pending.queue.is_empty() && pending.search.is_none();
        if !exhausted {
            return;
        }
        let connected = self.book.connected().len();
        if !pending.broadcast && connected <= SMALL_FLEET && connected > 0 {
            self.status.routing.small_fleet_fallbacks += 1;
            self.broadcast_lookup(key);
        }
        if self
            .lookups
            .get(key)
            .is_some_and(|pending| pending.outstanding.is_empty())
        {
            self.finish_lookup(key, None);
        }
    }

    /// Counts a finished lookup and stops its DHT query.
    pub(super) fn lookup_finished(&mut self, search: Option<QueryId>, found: bool) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        if let Some(mut query) = search.and_then(|id| kad.query_mut(&id)) {
            query.finish();
        }
        if found {
            self.status.routing.lookups_found += 1;
        } else {
            self.status.routing.lookups_missed += 1;
        }
    }

    /// A peer asked for `key` did not answer with it: a provider record naming that peer is
    /// stale (it left, or no longer holds the entry) and is dropped here.
    pub(super) fn provider_missed(&mut self, key: &str, peer: PeerId) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        let record = record_key(key);
        let store = kad.store_mut();
        if store.providers(&record).iter().any(|r| r.provider == peer) {
            store.remove_provider(&record, &peer);
            self.status.routing.stale_providers += 1;
        }
    }

    /// `peer` gossiped that it leaves: this node stops naming it as a provider (in answers to
    /// others and in its own lookups) and drops it from the routing table.
    pub(super) fn peer_left(&mut self, peer: PeerId) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        if kad.store_mut().depart(peer) {
            self.status.routing.departed_providers += 1;
        }
        kad.remove_peer(&peer);
    }

    /// Advertises `key` as held until `expires_at`: always for an entry fetched here, for a
    /// copy from a peer only on the few nodes closest to the key.
    pub(super) fn provide(&mut self, key: String, held: Held, expires_at: u64) {
        let now = super::now_ms() / 1000;
        if !self.swarm.behaviour().kad.is_enabled() || expires_at <= now {
            return;
        }
        if let Some(until) = self.routing.provided.get_mut(&key) {
            *until = (*until).max(expires_at);
            return;
        }
        let record = record_key(&key);
        if held == Held::Copied {
            let local = *self.swarm.local_peer_id();
            let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
                return;
            };
            let known: Vec<_> = kad
                .kbuckets()
                .flat_map(|bucket| {
                    bucket
                        .iter()
                        .map(|entry| *entry.node.key)
                        .collect::<Vec<_>>()
                })
                .collect();
            if !provides_copy(local, known, &record) {
                return;
            }
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        if self.routing.provided.len() >= MAX_PROVIDED_KEYS
            && let Some(soonest) = self
                .routing
                .provided
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(key, _)| key.clone())
        {
            self.routing.provided.remove(&soonest);
            kad.stop_providing(&record_key(&soonest));
        }
        match kad.start_providing(record) {
            Ok(_) => {
                self.routing.provided.insert(key, expires_at);
            }
            Err(e) => tracing::debug!("provider record not stored: {e}"),
        }
    }

    /// Stops providing `key` (its entry expired, was evicted, or a peer sent here found it
    /// gone). Copies on other nodes lapse within [`crate::mesh::routing::PROVIDER_TTL`];
    /// askers drop them sooner.
    pub(super) fn withdraw(&mut self, key: &str) {
        if self.routing.provided.remove(key).is_some()
            && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut()
        {
            kad.stop_providing(&record_key(key));
            self.status.routing.withdrawn_keys += 1;
        }
    }

    /// Withdraws every key whose entry is no longer fresh.
    pub(super) fn expire_provided(&mut self) {
        let now = super::now_ms() / 1000;
        let expired: Vec<String> = self
            .routing
            .provided
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.withdraw(&key);
        }
    }

    /// Fills the live parts of the routing status (the counters are kept in place).
    pub(super) fn routing_status(&mut self, status: &mut RoutingStatus) {
        status.provided_keys = self.routing.provided.len();
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            status.routing_table_peers = kad.kbuckets().map(|bucket| bucket.num_entries()).sum();
        }
    }

    /// A peer told us its addresses and protocols: a DHT peer goes into the routing table.
    pub(super) fn routing_learned(&mut self, peer: PeerId, info: &identify::Info) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        if info.protocols.contains(&crate::mesh::routing::KAD_PROTOCOL) {
            for addr in &info.listen_addrs {
                kad.add_address(&peer, addr.clone());
            }
        }
    }

    /// An event of the DHT.
    pub(super) fn kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest { .. } => {
                self.status.traffic.dht_requests_received += 1;
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result,
                stats,
                step,
            } => {
                if step.last {
                    self.status.traffic.dht_requests_sent += u64::from(stats.num_requests());
                }
                match result {
                    QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders {
                        providers,
                        ..
                    })) => self.providers_found(id, providers),
                    QueryResult::StartProviding(Err(e)) => {
                        tracing::debug!("provider record not published: {e}");
                    }
                    _ => {}
                }
                if step.last
                    && let Some(key) = self.routing.queries.remove(&id)
                {
                    if let Some(pending) = self.lookups.get_mut(&key)
                        && pending.search == Some(id)
                    {
                        pending.search = None;
                    }
                    self.settle_lookup(&key);
                }
            }
            _ => {}
        }
    }

    /// Queues the providers a DHT query named (not this node, not banned peers).
    fn providers_found(&mut self, id: QueryId, providers: HashSet<PeerId>) {
        let Some(key) = self.routing.queries.get(&id).cloned() else {
            return;
        };
        let local = *self.swarm.local_peer_id();
        let usable: Vec<PeerId> = providers
            .into_iter()
            .filter(|peer| *peer != local && !self.book.is_banned(peer))
            .collect();
        if let Some(pending) = self.lookups.get_mut(&key) {
            for peer in usable {
                if !pending.asked.contains(&peer) && !pending.queue.contains(&peer) {
                    pending.queue.push_back(peer);
                }
            }
        }
        self.settle_lookup(&key);
    }
}
