//! The DHT's record store: libp2p's in-memory store, minus the provider records of nodes that
//! said they are leaving.
//!
//! A node that shuts down cleanly gossips that it leaves; every node then stops naming it as a
//! provider at once, instead of handing its records out until they lapse
//! ([`super::PROVIDER_TTL`]). Kademlia has no message to delete a record on another node, and
//! the in-memory store cannot list the records of one provider, so the records stay stored
//! but are filtered out of every answer. A node that comes back under the same identity
//! republishes its records; Kademlia accepts a provider record only from the provider itself,
//! so that clears its departure.

use libp2p::PeerId;
use libp2p::kad::store::{MemoryStore, RecordStore, Result};
use libp2p::kad::{ProviderRecord, Record, RecordKey};
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

/// libp2p's [`MemoryStore`] that leaves out the providers in its departure list.
pub struct ProviderStore {
    inner: MemoryStore,
    /// Nodes that said they leave, with when; forgotten once their records have lapsed.
    departed: HashMap<PeerId, Instant>,
}

impl ProviderStore {
    /// Wraps `inner` with an empty departure list.
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            departed: HashMap::new(),
        }
    }

    /// `peer` left: its provider records are no longer handed out. Returns whether it was news.
    pub fn depart(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        self.departed
            .retain(|_, at| now.duration_since(*at) < super::PROVIDER_TTL);
        self.departed.insert(peer, now).is_none()
    }

    fn has_departed(&self, peer: &PeerId) -> bool {
        self.departed.contains_key(peer)
    }
}

impl RecordStore for ProviderStore {
    type RecordsIter<'a> = <MemoryStore as RecordStore>::RecordsIter<'a>;
    type ProvidedIter<'a> = <MemoryStore as RecordStore>::ProvidedIter<'a>;

    fn get(&self, key: &RecordKey) -> Option<Cow<'_, Record>> {
        self.inner.get(key)
    }

    fn put(&mut self, record: Record) -> Result<()> {
        self.inner.put(record)
    }

    fn remove(&mut self, key: &RecordKey) {
        self.inner.remove(key);
    }

    fn records(&self) -> Self::RecordsIter<'_> {
        self.inner.records()
    }

    fn add_provider(&mut self, record: ProviderRecord) -> Result<()> {
        // Only the provider itself publishes its record: it is back.
        self.departed.remove(&record.provider);
        self.inner.add_provider(record)
    }

    fn providers(&self, key: &RecordKey) -> Vec<ProviderRecord> {
        let mut providers = self.inner.providers(key);
        providers.retain(|record| !self.has_departed(&record.provider));
        providers
    }

    fn provided(&self) -> Self::ProvidedIter<'_> {
        self.inner.provided()
    }

    fn remove_provider(&mut self, key: &RecordKey, provider: &PeerId) {
        self.inner.remove_provider(key, provider);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &RecordKey, provider: PeerId) -> ProviderRecord {
        ProviderRecord::new(key.clone(), provider, Vec::new())
    }

    #[test]
    fn a_departed_provider_is_left_out_until_it_publishes_again() {
        let local = PeerId::random();
        let (leaving, staying) = (PeerId::random(), PeerId::random());
        let key = super::super::record_key("GET api.github.com/repos/o/r");
        let mut store = ProviderStore::new(MemoryStore::new(local));
        store.add_provider(record(&key, leaving)).unwrap();
        store.add_provider(record(&key, staying)).unwrap();
        assert_eq!(store.providers(&key).len(), 2);

        assert!(store.depart(leaving));
        assert!(!store.depart(leaving), "a second departure is not news");
        let named: Vec<PeerId> = store.providers(&key).iter().map(|r| r.provider).collect();
        assert_eq!(named, vec![staying]);

        store.add_provider(record(&key, leaving)).unwrap();
        assert_eq!(
            store.providers(&key).len(),
            2,
            "back under the same identity"
        );
    }
}
