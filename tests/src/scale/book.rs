//! Which nodes take lookups and which hold which entry, shared by the lookup workers and the
//! churn. A node is a *known holder* of an entry once the harness saw it answer the entry with a
//! 200: the warm-up fetcher, then every node that answered a lookup for it (it stores what it
//! serves). Nodes that only received an announcement are not counted as holders (the harness
//! cannot see them without asking), so "some holder is alive" is judged conservatively: they
//! can only make more lookups succeed, never turn a counted lookup into an uncounted one.

use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// A lookup to send: entry `path` from `node` at `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// Entry index.
    pub path: usize,
    /// Node id.
    pub node: usize,
    /// Its base URL.
    pub url: String,
    /// Whether it joined during the lookups.
    pub joiner: bool,
}

/// The book.
#[derive(Debug, Default)]
pub struct Book {
    /// Nodes taking lookups: id -> (URL, joiner).
    live: BTreeMap<usize, (String, bool)>,
    /// Known holders of each entry, alive or not.
    holders: Vec<BTreeSet<usize>>,
}

impl Book {
    /// A book for `paths` entries, no node yet.
    pub fn new(paths: usize) -> Self {
        Self {
            live: BTreeMap::new(),
            holders: vec![BTreeSet::new(); paths],
        }
    }

    /// Node `id` takes lookups from now on.
    pub fn join(&mut self, id: usize, url: &str, joiner: bool) {
        self.live.insert(id, (url.to_owned(), joiner));
    }

    /// Node `id` takes no more lookups (it is about to be stopped).
    pub fn leave(&mut self, id: usize) {
        self.live.remove(&id);
    }

    /// Whether node `id` takes lookups.
    pub fn is_live(&self, id: usize) -> bool {
        self.live.contains_key(&id)
    }

    /// Node ids taking lookups.
    pub fn live(&self) -> Vec<usize> {
        self.live.keys().copied().collect()
    }

    /// Node `node` holds entry `path`.
    pub fn holds(&mut self, path: usize, node: usize) {
        self.holders[path].insert(node);
    }

    /// Whether some known holder of `path` is alive.
    pub fn held(&self, path: usize) -> bool {
        self.holders[path].iter().any(|n| self.live.contains_key(n))
    }

    /// Entries no live node is known to hold.
    pub fn orphaned(&self) -> usize {
        (0..self.holders.len()).filter(|&p| !self.held(p)).count()
    }

    /// A random entry with a live known holder, asked of a random live node that is not a known
    /// holder of it; `None` when there is no such pair.
    pub fn pick(&self, rng: &mut impl Rng) -> Option<Pick> {
        let askers = |p: usize| {
            self.live
                .keys()
                .filter(move |n| !self.holders[p].contains(n))
                .copied()
        };
        let eligible = |p: usize| self.held(p) && askers(p).next().is_some();
        // Uniform over eligible entries either way: a few random draws usually find one; a
        // scan is the fallback once few are left.
        let drawn = (0..16)
            .map(|_| rng.gen_range(0..self.holders.len().max(1)))
            .find(|&p| p < self.holders.len() && eligible(p));
        let path = match drawn {
            Some(path) => path,
            None => {
                let candidates: Vec<usize> =
                    (0..self.holders.len()).filter(|&p| eligible(p)).collect();
                *candidates.get(rng.gen_range(0..candidates.len().max(1)))?
            }
        };
        let nodes: Vec<usize> = askers(path).collect();
        let node = nodes[rng.gen_range(0..nodes.len())];
        let (url, joiner) = self.live[&node].clone();
        Some(Pick {
            path,
            node,
            url,
            joiner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn picks_a_held_entry_from_a_node_not_holding_it() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut book = Book::new(3);
        assert_eq!(book.pick(&mut rng), None);
        book.join(0, "http://a", false);
        book.join(1, "http://b", true);
        book.holds(2, 0);
        for _ in 0..20 {
            let pick = book.pick(&mut rng).expect("a pick");
            assert_eq!((pick.path, pick.node, pick.joiner), (2, 1, true));
        }
        assert_eq!(book.orphaned(), 2);
        book.leave(0);
        assert!(!book.held(2));
        assert_eq!(book.pick(&mut rng), None);
        assert_eq!(book.orphaned(), 3);
    }
}
