//! The network task's CodeQL side: announcements on `github-cache/codeql/1.0.0`, lookups sent to
//! every connected peer (the first verified, fresh answer wins), SARIF fetched by CID, and
//! peers' requests handed to the proxy. Every SARIF a peer sends is checked against its result's
//! CID here; a mismatch is a fault charged to that peer, exactly as for API bodies.

use super::{Node, now_ms};
use crate::mesh::scan::{ScanAnnouncement, ScanQuery, ScanRequest, ScanResponse, WireScan};
use crate::mesh::wire::Fault;
use crate::mesh::{Command, MeshEvent, PeerScan};
use bytes::Bytes;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::{PeerId, gossipsub};
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

/// CodeQL requests this node has in flight.
#[derive(Default)]
pub(super) struct ScanRequests {
    /// Lookups by their own id (two checks asking the same thing are rare: no merging).
    lookups: HashMap<u64, PendingLookup>,
    /// What each outbound request was for.
    outbound: HashMap<OutboundRequestId, Outbound>,
    next_lookup: u64,
}

struct PendingLookup {
    query: ScanQuery,
    reply: oneshot::Sender<Option<PeerScan>>,
    outstanding: HashSet<OutboundRequestId>,
}

enum Outbound {
    Lookup(u64),
    Sarif {
        scan: Box<WireScan>,
        reply: oneshot::Sender<Option<Bytes>>,
    },
}

impl Node {
    /// Carries out a CodeQL command (the others never reach here).
    pub(super) fn scan_command(&mut self, command: Command) {
        match command {
            Command::LookupScan { query, reply } => self.lookup_scan(query, reply),
            Command::FetchSarif { peer, scan, reply } => {
                let frame = self.sealer.seal_scan_request(&ScanRequest::Sarif {
                    key: scan.key.clone(),
                    cid: scan.sarif_cid.clone(),
                });
                self.status.traffic.requests_sent += 1;
                let id = self.swarm.behaviour_mut().scans.send_request(&peer, frame);
                self.scans
                    .outbound
                    .insert(id, Outbound::Sarif { scan, reply });
            }
            Command::PublishScan(announcement) => {
                let frame = self.sealer.seal_scan_announcement(announcement, now_ms());
                match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.scan_topic.clone(), frame)
                {
                    Ok(_) => {
                        self.status.announcements_sent += 1;
                        self.status.traffic.gossip_published += 1;
                    }
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                    Err(e) => tracing::debug!("CodeQL announcement not published: {e}"),
                }
            }
            Command::RespondScan {
                channel,
                response,
                peer,
            } => {
                if matches!(
                    response,
                    ScanResponse::Result { .. } | ScanResponse::Sarif(_)
                ) {
                    self.book.served_by_us(peer);
                }
                let frame = self.sealer.seal_scan_response(&response);
                if self
                    .swarm
                    .behaviour_mut()
                    .scans
                    .send_response(channel, frame)
                    .is_err()
                {
                    tracing::debug!(%peer, "peer gone before its CodeQL answer was sent");
                }
            }
            other => tracing::error!("not a CodeQL command: {other:?}"),
        }
    }

    fn lookup_scan(&mut self, query: ScanQuery, reply: oneshot::Sender<Option<PeerScan>>) {
        let peers = self.book.connected();
        if peers.is_empty() {
            let _ = reply.send(None);
            return;
        }
        let id = self.scans.next_lookup;
        self.scans.next_lookup += 1;
        let frame = self
            .sealer
            .seal_scan_request(&ScanRequest::Lookup(query.clone()));
        let mut outstanding = HashSet::new();
        for peer in peers {
            self.status.traffic.requests_sent += 1;
            let request = self
                .swarm
                .behaviour_mut()
                .scans
                .send_request(&peer, frame.clone());
            outstanding.insert(request);
            self.scans.outbound.insert(request, Outbound::Lookup(id));
        }
        let pending = PendingLookup {
            query,
            reply,
            outstanding,
        };
        self.scans.lookups.insert(id, pending);
    }

    /// One peer's answer (or failure) to lookup `id`: a result resolves it, the last
    /// non-answer resolves it with `None`.
    fn scan_lookup_answered(
        &mut self,
        id: u64,
        request: OutboundRequestId,
        found: Option<PeerScan>,
    ) {
        let Some(pending) = self.scans.lookups.get_mut(&id) else {
            return;
        };
        pending.outstanding.remove(&request);
        if found.is_none() && !pending.outstanding.is_empty() {
            return;
        }
        if let Some(pending) = self.scans.lookups.remove(&id) {
            for request in &pending.outstanding {
                self.scans.outbound.remove(request);
            }
            let _ = pending.reply.send(found);
        }
    }

    /// An event of the CodeQL protocol.
    pub(super) fn scan_event(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.status.traffic.requests_received += 1;
                    self.inbound_scan_request(peer, &request, channel);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => match self.scans.outbound.remove(&request_id) {
                    Some(Outbound::Lookup(id)) => {
                        let found = self.check_scan_answer(peer, id, &response);
                        self.scan_lookup_answered(id, request_id, found);
                    }
                    Some(Outbound::Sarif { scan, reply }) => {
                        let _ = reply.send(self.check_sarif(peer, &scan, &response));
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
                // An older node does not speak the protocol: a failure, never a fault.
                tracing::debug!(%peer, "CodeQL request failed: {error}");
                match self.scans.outbound.remove(&request_id) {
                    Some(Outbound::Lookup(id)) => self.scan_lookup_answered(id, request_id, None),
                    Some(Outbound::Sarif { reply, .. }) => {
                        let _ = reply.send(None);
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Opens and verifies a peer's answer to lookup `id`; faults are charged to that peer.
    fn check_scan_answer(&mut self, peer: PeerId, id: u64, frame: &[u8]) -> Option<PeerScan> {
        let query = self.scans.lookups.get(&id)?.query.clone();
        let checked = self
            .sealer
            .open_scan_response(frame)
            .and_then(|response| match response {
                ScanResponse::Result { scan, sarif } => {
                    if !scan.answers(&query) {
                        return Err(Fault::Mismatched);
                    }
                    scan.verify(&sarif)?;
                    Ok(Some((scan, sarif)))
                }
                ScanResponse::NotFound => Ok(None),
                ScanResponse::Sarif(_) => Err(Fault::Mismatched),
            });
        match checked {
            Ok(Some((scan, sarif))) if scan.full_analysis && scan.is_fresh(now_ms() / 1000) => {
                self.book.served_to_us(peer);
                Some(PeerScan {
                    scan: *scan,
                    sarif: Bytes::from(sarif),
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

    /// Opens a peer's answer to a SARIF request and checks the SARIF against the result's CID.
    fn check_sarif(&mut self, peer: PeerId, scan: &WireScan, frame: &[u8]) -> Option<Bytes> {
        let checked = self
            .sealer
            .open_scan_response(frame)
            .and_then(|response| match response {
                ScanResponse::Sarif(sarif) => {
                    scan.verify(&sarif)?;
                    Ok(Some(sarif))
                }
                ScanResponse::NotFound => Ok(None),
                ScanResponse::Result { .. } => Err(Fault::Mismatched),
            });
        self.settle_body(peer, checked)
    }

    /// Hands a peer's CodeQL request to the proxy and answers when it has.
    fn inbound_scan_request(
        &mut self,
        peer: PeerId,
        frame: &[u8],
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let request = match self.sealer.open_scan_request(frame) {
            Ok(request) => request,
            Err(fault) => {
                self.fault(peer, &fault);
                return;
            }
        };
        let Some(commands) = self.commands.upgrade() else {
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let response = answer(&events, request).await;
            let _ = commands
                .send(Command::RespondScan {
                    channel,
                    response,
                    peer,
                })
                .await;
        });
    }

    /// Checks a CodeQL announcement before gossipsub forwards it or the proxy sees it.
    pub(super) fn scan_announcement(
        &mut self,
        via: PeerId,
        id: &gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        let author = message.source.unwrap_or(via);
        let verdict = self
            .sealer
            .open_scan_announcement(&message.data, now_ms())
            .and_then(|envelope| match envelope.announcement {
                ScanAnnouncement::Result { scan, sarif } => {
                    if let Some(sarif) = &sarif {
                        scan.verify(sarif)?;
                    }
                    Ok(MeshEvent::Scan {
                        scan,
                        sarif: sarif.map(Bytes::from),
                        from: author,
                    })
                }
            })
            .map(Some);
        self.settle_announcement(via, id, author, verdict);
    }
}

/// Asks the proxy for what a peer requested.
async fn answer(events: &mpsc::Sender<MeshEvent>, request: ScanRequest) -> ScanResponse {
    match request {
        ScanRequest::Lookup(query) => {
            let (reply, answer) = oneshot::channel();
            if events
                .send(MeshEvent::ScanLookup { query, reply })
                .await
                .is_err()
            {
                return ScanResponse::NotFound;
            }
            match answer.await {
                Ok(Some((scan, sarif))) => ScanResponse::Result {
                    scan: Box::new(scan),
                    sarif: sarif.to_vec(),
                },
                _ => ScanResponse::NotFound,
            }
        }
        ScanRequest::Sarif { key, cid } => {
            let (reply, answer) = oneshot::channel();
            if events
                .send(MeshEvent::ScanSarif { key, cid, reply })
                .await
                .is_err()
            {
                return ScanResponse::NotFound;
            }
            match answer.await {
                Ok(Some(sarif)) => ScanResponse::Sarif(sarif.to_vec()),
                _ => ScanResponse::NotFound,
            }
        }
    }
}
