//! `ghmesh peers`: the fleet peers a running `ghmesh serve` knows — address, connection, round
//! trip, what was exchanged and the faults charged to each — from its `/_ghmesh/peers`.

use super::serve_client::{self, ServeUrl};
use crate::config::Config;
use crate::mesh::{MeshStatus, PeerInfo};
use anyhow::Context;
use clap::Args;
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

/// A local proxy answers in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `ghmesh peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Where the proxy answers.
    #[command(flatten)]
    pub serve: ServeUrl,
    /// Print the JSON document as the proxy sent it instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Fetches the peer list and prints it.
pub fn run(args: PeersArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let text = serve_client::get_text(&args.serve, &config.cache.dir, "/_ghmesh/peers", TIMEOUT)?;
    if args.json {
        println!("{}", text.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let status: MeshStatus = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} did not answer /_ghmesh/peers with a peer list",
            args.serve.url.as_deref().unwrap_or("the serve")
        )
    })?;
    print!("{}", render(&status));
    Ok(ExitCode::SUCCESS)
}

/// This node, then one row per peer: connected ones first.
fn render(status: &MeshStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "peer id    {}", status.peer_id);
    for addr in &status.listen_addrs {
        let _ = writeln!(out, "listening  {addr}");
    }
    let _ = writeln!(
        out,
        "connected  {} of {} known",
        status.connected_peers,
        status.peers.len()
    );
    let c = &status.connectivity;
    let _ = writeln!(
        out,
        "reachable  {} ({} through relays, {} hole-punched)",
        c.reachability, c.relay_peers, c.nat_traversal.direct_upgrades
    );
    let routing = &status.routing;
    if routing.enabled {
        let _ = writeln!(
            out,
            "routing    kademlia: {} peers in table, {} keys provided; lookups {} \
             (found {}, missed {})",
            routing.routing_table_peers,
            routing.provided_keys,
            routing.lookups,
            routing.lookups_found,
            routing.lookups_missed
        );
    } else {
        let _ = writeln!(out, "routing    a miss asks every connected peer");
    }
    let registry = &status.registry;
    if registry.enabled {
        let last = registry
            .last_error
            .as_ref()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "registry   Actions cache: {} registrations, {} lookups, {} errors{last}",
            registry.registrations, registry.lookups, registry.errors
        );
    } else {
        let _ = writeln!(out, "registry   off");
    }
    if status.peers.is_empty() {
        return out;
    }
    let mut peers: Vec<&PeerInfo> = status.peers.iter().collect();
    peers.sort_by_key(|p| (!p.connected, p.peer_id.clone()));
    let _ = writeln!(
        out,
        "\n{:<54} {:<9} {:>9} {:>6} {:>6} {:>6}  ADDRESS",
        "PEER", "STATE", "RTT", "RECV", "SENT", "FAULTS"
    );
    for peer in peers {
        let state = if peer.banned {
            "banned"
        } else if peer.connected && peer.relayed {
            "relayed"
        } else if peer.connected {
            "connected"
        } else {
            "gone"
        };
        let rtt = peer.rtt_us.map_or_else(
            || "-".to_string(),
            |us| format!("{:.1}ms", us as f64 / 1000.0),
        );
        let _ = writeln!(
            out,
            "{:<54} {:<9} {:>9} {:>6} {:>6} {:>6}  {}",
            peer.peer_id,
            state,
            rtt,
            peer.served_to_us,
            peer.served_by_us,
            peer.faults,
            peer.addresses.first().map_or("-", String::as_str)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_peers_come_first_with_their_figures() {
        let status = MeshStatus {
            peer_id: "12D3KooWself".into(),
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWself".into()],
            connected_peers: 1,
            peers: vec![
                PeerInfo {
                    peer_id: "12D3KooWaaaa".into(),
                    banned: true,
                    faults: 3,
                    ..PeerInfo::default()
                },
                PeerInfo {
                    peer_id: "12D3KooWbbbb".into(),
                    connected: true,
                    rtt_us: Some(1_250),
                    served_to_us: 4,
                    addresses: vec!["/ip4/10.0.0.2/tcp/4001".into()],
                    ..PeerInfo::default()
                },
            ],
            ..MeshStatus::default()
        };
        let text = render(&status);
        assert!(text.contains("connected  1 of 2 known"), "{text}");
        assert!(text.contains("registry   off"), "{text}");
        let mut on = status.clone();
        on.registry.enabled = true;
        on.registry.registrations = 3;
        on.registry.errors = 1;
        on.registry.last_error = Some("rate_limited".into());
        let text = render(&on);
        assert!(
            text.contains("registry   Actions cache: 3 registrations, 0 lookups, 1 errors (last: rate_limited)"),
            "{text}"
        );
        let rows: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("PEER"))
            .collect();
        assert!(rows[1].starts_with("12D3KooWbbbb"), "{text}");
        assert!(
            rows[1].contains("1.3ms") || rows[1].contains("1.2ms"),
            "{text}"
        );
        assert!(rows[1].ends_with("/ip4/10.0.0.2/tcp/4001"), "{text}");
        assert!(rows[2].contains("banned"), "{text}");
        assert!(rows[2].contains(" 3  -"), "{text}");
    }

    #[test]
    fn a_peer_reached_only_through_a_relay_shows_as_relayed() {
        let mut status = MeshStatus {
            connected_peers: 1,
            peers: vec![PeerInfo {
                peer_id: "12D3KooWcccc".into(),
                connected: true,
                relayed: true,
                ..PeerInfo::default()
            }],
            ..MeshStatus::default()
        };
        status.connectivity.reachability = "private".into();
        status.connectivity.relay_peers = 1;
        let text = render(&status);
        assert!(
            text.contains("reachable  private (1 through relays, 0 hole-punched)"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("12D3KooWcccc"))
            .unwrap();
        assert!(row.contains("relayed"), "{text}");
    }
}
