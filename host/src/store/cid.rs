//! Content identifiers of response bodies: CIDv1, codec `raw` (0x55), multihash sha2-256 (0x12).
//!
//! The same identifier names a body in the store and on the mesh, so a body fetched from a peer
//! is checked with [`verify`] exactly as one read from disk.

use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

/// Multicodec of uninterpreted bytes: a body is stored as received, never parsed.
pub const RAW_CODEC: u64 = 0x55;

/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;

/// The CID of `body`: sha2-256 (the `sha2` crate) wrapped as a multihash, in a CIDv1 with the raw
/// codec. Its text form (base32, `bafkrei...`) is what the index stores.
pub fn body_cid(body: &[u8]) -> Cid {
    let digest = Sha256::digest(body);
    // 32 bytes always fit the 64-byte multihash buffer, so wrapping cannot fail.
    let hash = Multihash::<64>::wrap(SHA2_256, &digest).expect("sha2-256 digest fits a multihash");
    Cid::new_v1(RAW_CODEC, hash)
}

/// Whether `body` is the content `cid` names. Only sha2-256 raw CIDs are produced by this host;
/// anything else (another codec or hash, a CID that does not parse) is not ours and fails.
pub fn verify(cid: &str, body: &[u8]) -> bool {
    match cid.parse::<Cid>() {
        Ok(expected) => {
            expected.codec() == RAW_CODEC
                && expected.hash().code() == SHA2_256
                && expected == body_cid(body)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_of_empty_body_is_the_well_known_one() {
        // The CIDv1 raw sha2-256 of zero bytes, as every IPFS implementation computes it.
        assert_eq!(
            body_cid(b"").to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
    }

    #[test]
    fn verify_accepts_the_body_and_rejects_any_other() {
        let cid = body_cid(b"{\"id\":1}").to_string();
        assert!(verify(&cid, b"{\"id\":1}"));
        assert!(!verify(&cid, b"{\"id\":2}"));
        assert!(!verify("not a cid", b"{\"id\":1}"));
    }
}
