//! The test peer's own libp2p stack, built independently of ghmesh's: the same transport
//! (TCP + pnet keyed from the fleet secret + noise + yamux) and protocols (gossipsub on the
//! announcement topic, request-response on the fetch protocol), but none of ghmesh's checks, so
//! it can say whatever a broken or hostile peer would.

use libp2p::core::transport::upgrade::Version;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, Transport, gossipsub, identify, identity, noise, ping,
    request_response, tcp, yamux,
};
use std::io;
use std::time::Duration;

/// The announcement topic ghmesh subscribes to.
pub const TOPIC: &str = "github-cache/1.0.0";
/// The fetch protocol ghmesh serves lookups on.
pub const FETCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/github-cache/fetch/1.0.0");
/// Largest frame this peer reads: far above ghmesh's limits, so it never refuses an answer.
const MAX_FRAME: u64 = 64 << 20;

/// What the test peer speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Announcements, valid and not.
    pub gossipsub: gossipsub::Behaviour,
    /// Lookups and bodies, raw frames.
    pub fetch: request_response::Behaviour<RawCodec>,
    /// So ghmesh learns this peer's addresses, as with any peer.
    pub identify: identify::Behaviour,
    /// Keeps the connection as alive as a real peer's.
    pub ping: ping::Behaviour,
}

/// Builds the swarm for a fleet whose private-network key is `network_key`.
pub fn build(network_key: [u8; 32]) -> anyhow::Result<Swarm<Behaviour>> {
    let psk = PreSharedKey::new(network_key);
    let swarm = SwarmBuilder::with_existing_identity(identity::Keypair::generate_ed25519())
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
                        .timeout(Duration::from_secs(10)),
                )
            },
        )?
        .with_behaviour(behaviour)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

fn behaviour(
    key: &identity::Keypair,
) -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    // Message ids by author and sequence number (gossipsub's default), unlike ghmesh's ids by
    // content: this peer can publish the very same bytes twice, as a replaying attacker would.
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(500))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(1 << 20)
        .build()?;
    let gossipsub =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)?;
    let fetch = request_response::Behaviour::with_codec(
        RawCodec,
        [(FETCH_PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    );
    Ok(Behaviour {
        gossipsub,
        fetch,
        identify: identify::Behaviour::new(identify::Config::new(
            "/ghmesh/1.0.0".into(),
            key.public(),
        )),
        ping: ping::Behaviour::new(ping::Config::new()),
    })
}

/// One frame per stream in each direction, as bytes: whatever is written, however large.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut frame = Vec::new();
    io.take(MAX_FRAME).read_to_end(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    io.write_all(frame).await?;
    io.close().await
}

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response).await
    }
}
