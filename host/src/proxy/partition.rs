//! Token partitions: which credential a request was made with, as a hash. Entries, ETags and rate
//! limits are tracked per partition; the credential itself is never stored, logged or shown.

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// Domain separation, so a partition can never be confused with another hash of the token.
const PARTITION_CONTEXT: &[u8] = b"ghmesh token partition v1\0";

/// The partition of an anonymous request.
pub const ANONYMOUS: &str = "anonymous";

/// Hash of the request's credential (`authorization` header), or [`ANONYMOUS`]. 16 bytes of
/// sha256 in hex: enough to tell tokens apart, useless for recovering one.
pub fn of(headers: &HeaderMap) -> String {
    match headers.get(http::header::AUTHORIZATION) {
        None => ANONYMOUS.to_string(),
        Some(value) => {
            let credential = credential_part(value.as_bytes());
            let mut hasher = Sha256::new();
            hasher.update(PARTITION_CONTEXT);
            hasher.update(credential);
            hex::encode(&hasher.finalize()[..16])
        }
    }
}

/// `token X`, `Bearer X` and `bearer X` carry the same credential: hash only `X`.
fn credential_part(value: &[u8]) -> &[u8] {
    let text = value.trim_ascii();
    match text.iter().position(|b| *b == b' ') {
        Some(space) => text[space + 1..].trim_ascii(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(auth) = auth {
            map.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(auth).unwrap(),
            );
        }
        map
    }

    #[test]
    fn same_token_same_partition_whatever_the_scheme() {
        assert_eq!(
            of(&headers(Some("token abc123"))),
            of(&headers(Some("Bearer abc123")))
        );
    }

    #[test]
    fn different_tokens_differ_and_never_contain_the_token() {
        let a = of(&headers(Some("token ghp_secretsecret")));
        let b = of(&headers(Some("token ghp_othersecret")));
        assert_ne!(a, b);
        assert!(!a.contains("secret"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn anonymous_requests_share_one_partition() {
        assert_eq!(of(&headers(None)), ANONYMOUS);
    }
}
