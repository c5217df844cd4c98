//! The fleet-mesh scale run (`mesh-scale`, tests/bench/mesh_scale.sh): N real `ghmesh serve`
//! processes on loopback, K entries each fetched from the upstream by one node, then lookups of
//! those entries from other nodes while a fifth of the fleet leaves and as many fresh nodes join.
//! Reports lookup success, latency, announcement reach, memory and mesh traffic per routing mode
//! (gossip-only, or Kademlia provider records).
//!
//! Layout:
//! - [`cli`]: the flags and their validation into a [`cli::ScaleConfig`].
//! - [`node`]: one `ghmesh serve` process: its directory, configuration, memory and stats.
//! - [`traffic`]: where the mesh's message counters are read from (the one place naming them).
//! - [`book`]: which nodes are alive and which hold which entry; picks the next lookup.
//! - [`lookup`]: one lookup over HTTP, classified by its `Cache-Status`.
//! - [`churn`]: nodes stopped (SIGKILL, SIGTERM) and fresh nodes joining during the lookups.
//! - [`run`]: one measured run of a routing mode (start, warm-up, lookups with churn, figures).
//! - [`report`]: figures derived from the runs, as a table and as JSON.

pub mod book;
pub mod churn;
pub mod cli;
pub mod lookup;
pub mod node;
pub mod report;
pub mod run;
pub mod traffic;
