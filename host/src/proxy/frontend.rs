//! Which front end a request came through, and what that means for the path and for the base URL
//! the client should see in rewritten links: the base-URL reverse proxy (`/repos/o/r`, optionally
//! GHES-style `/api/v3/repos/o/r`) or a forward-proxy absolute-form request for the one host this
//! proxy serves (`http://api.github.localhost/repos/o/r`, how `gh` talks through `HTTP_PROXY`).

use http::{Method, Request, StatusCode, header};

/// The host `gh` uses when `GH_HOST=github.localhost`; the only host served in forward mode.
pub const FORWARD_HOST: &str = "api.github.localhost";

/// GHES clients put the API under this prefix.
const GHES_PREFIX: &str = "/api/v3";

/// Where a request should go, once the front end is understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Path relative to the API root, e.g. `/repos/o/r`.
    pub path: String,
    /// Raw query string without `?`, possibly empty.
    pub query: String,
    /// The base URL the client used, for rewriting `link` and `location`.
    pub client_base: String,
}

impl Target {
    /// `path?query`, as sent upstream.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// Why a request is not served; each maps to a clear status and message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// Forward-proxy request for a host other than [`FORWARD_HOST`].
    #[error("ghmesh is not an open proxy: it only serves {FORWARD_HOST}, not {0}")]
    ForeignHost(String),
    /// `CONNECT` tunnelling.
    #[error("ghmesh does not tunnel CONNECT requests; send plain http requests for {FORWARD_HOST}")]
    Connect,
    /// Something that is not an API path.
    #[error("malformed request target: {0}")]
    Malformed(String),
}

impl Refusal {
    /// The status a client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::ForeignHost(_) => StatusCode::FORBIDDEN,
            Refusal::Connect => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Classifies a request.
pub fn target<B>(request: &Request<B>) -> Result<Target, Refusal> {
    if request.method() == Method::CONNECT {
        return Err(Refusal::Connect);
    }
    let uri = request.uri();
    let client_base = match uri.authority() {
        Some(authority) => {
            let host = authority.host().to_ascii_lowercase();
            if host != FORWARD_HOST {
                return Err(Refusal::ForeignHost(authority.to_string()));
            }
            format!("http://{authority}")
        }
        None => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| !h.is_empty() && !h.contains(['/', ' ']))
                .unwrap_or("127.0.0.1");
            format!("http://{host}")
        }
    };
    let raw_path = uri.path();
    if !raw_path.starts_with('/') || raw_path.contains("/../") || raw_path.ends_with("/..") {
        return Err(Refusal::Malformed(raw_path.to_string()));
    }
    let (path, client_base) = match raw_path.strip_prefix(GHES_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => (
            if rest.is_empty() {
                "/".to_string()
            } else {
                rest.to_string()
            },
            format!("{client_base}{GHES_PREFIX}"),
        ),
        _ => (raw_path.to_string(), client_base),
    };
    Ok(Target {
        path,
        query: uri.query().unwrap_or_default().to_string(),
        client_base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn reverse_proxy_paths_keep_the_client_base() {
        let t = target(&request("/repos/o/r/issues?page=2", Some("127.0.0.1:8080"))).unwrap();
        assert_eq!(t.path, "/repos/o/r/issues");
        assert_eq!(t.query, "page=2");
        assert_eq!(t.client_base, "http://127.0.0.1:8080");
    }

    #[test]
    fn ghes_prefix_is_stripped_and_kept_for_links() {
        let t = target(&request("/api/v3/repos/o/r", Some("localhost:9"))).unwrap();
        assert_eq!(t.path, "/repos/o/r");
        assert_eq!(t.client_base, "http://localhost:9/api/v3");
    }

    #[test]
    fn forward_proxy_serves_only_the_github_localhost_host() {
        let t = target(&request("http://api.github.localhost/repos/o/r", None)).unwrap();
        assert_eq!(t.client_base, "http://api.github.localhost");
        let refused = target(&request("http://example.com/", None)).unwrap_err();
        assert_eq!(refused, Refusal::ForeignHost("example.com".into()));
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn connect_and_traversal_are_refused() {
        let connect = Request::builder()
            .method(Method::CONNECT)
            .uri("example.com:443")
            .body(())
            .unwrap();
        assert_eq!(target(&connect).unwrap_err(), Refusal::Connect);
        assert!(matches!(
            target(&request("/repos/../x", None)),
            Err(Refusal::Malformed(_))
        ));
    }
}
