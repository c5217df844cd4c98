//! The byte codec of `/github-cache/fetch/1.0.0`: one sealed frame per stream in each direction,
//! read up to a bound so a peer cannot make this node buffer more than the protocol allows.
//! Sealing and decoding happen in [`super::wire`], where faults are attributed to peers.

use libp2p::StreamProtocol;
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use std::io;

/// The fetch protocol's name.
pub const FETCH_PROTOCOL: StreamProtocol = StreamProtocol::new("/github-cache/fetch/1.0.0");
/// The CodeQL results protocol's name ([`super::scan`]); same framing, its own bounds.
pub const SCAN_PROTOCOL: StreamProtocol = StreamProtocol::new("/github-cache/codeql/1.0.0");

/// Reads and writes whole frames, bounded in size.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_request: usize,
    max_response: usize,
}

impl FrameCodec {
    /// A codec accepting requests up to `max_request` and responses up to `max_response` bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
        }
    }
}

async fn read_bounded<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut frame = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    io.take(cap).read_to_end(&mut frame).await?;
    if frame.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame exceeds {limit} bytes"),
        ));
    }
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    io.write_all(frame).await?;
    io.close().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_bounded(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_bounded(io, self.max_response).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::futures::executor::block_on;
    use libp2p::futures::io::Cursor;
    use request_response::Codec;

    #[test]
    fn frames_up_to_the_bound_are_read_and_larger_ones_refused() {
        let mut codec = FrameCodec::new(8, 16);
        let read = |codec: &mut FrameCodec, bytes: Vec<u8>, request: bool| {
            let mut io = Cursor::new(bytes);
            block_on(async {
                if request {
                    codec.read_request(&FETCH_PROTOCOL, &mut io).await
                } else {
                    codec.read_response(&FETCH_PROTOCOL, &mut io).await
                }
            })
        };
        assert_eq!(read(&mut codec, vec![7; 8], true).unwrap(), vec![7; 8]);
        let err = read(&mut codec, vec![7; 9], true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&mut codec, vec![1; 16], false).unwrap().len(), 16);
        assert!(read(&mut codec, vec![1; 17], false).is_err());
    }

    #[test]
    fn a_written_frame_reads_back() {
        let mut codec = FrameCodec::new(64, 64);
        let mut io = Cursor::new(Vec::new());
        block_on(codec.write_request(&FETCH_PROTOCOL, &mut io, b"frame".to_vec())).unwrap();
        let mut back = Cursor::new(io.into_inner());
        let frame = block_on(codec.read_request(&FETCH_PROTOCOL, &mut back)).unwrap();
        assert_eq!(frame, b"frame");
    }
}
