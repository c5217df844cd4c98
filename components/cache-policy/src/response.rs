//! The response decision: keep a read's answer or not, and what a write invalidates.

use crate::api::{Response, ResponseDecision, StoreDecision};
use crate::path::ApiPath;
use crate::{headers, invalidation};

/// Decides whether to keep `response` and which cached paths it makes out of date.
pub fn decide(response: &Response) -> ResponseDecision {
    let method = response.method.to_ascii_uppercase();
    let is_read = method == "GET" || method == "HEAD";
    let is_graphql =
        method == "POST" && ApiPath::parse(&response.path).is_some_and(|p| p.matches("/graphql"));
    let store = if is_read {
        store_read(response)
    } else if is_graphql {
        store_graphql(response)
    } else {
        StoreDecision::NoStore(format!("{method} is a write: never stored"))
    };
    let invalidate = if is_read || is_graphql {
        Vec::new()
    } else {
        invalidation::for_write(response)
    };
    ResponseDecision { store, invalidate }
}

/// GET and HEAD: successes, permanent redirects and "not there" answers are kept.
fn store_read(response: &Response) -> StoreDecision {
    let status = response.status;
    if headers::has_directive(&response.headers, "cache-control", "no-store") {
        return StoreDecision::NoStore(format!("{status} says cache-control: no-store"));
    }
    match status {
        200 | 203 | 204 | 300 | 301 | 308 => StoreDecision::Store(format!("{status} is storable")),
        404 | 410 => StoreDecision::Store(format!("{status}: negative caching")),
        304 => StoreDecision::NoStore("304 refreshes, host handles".to_owned()),
        403 | 429 if headers::rate_limit_exhausted(&response.headers) => {
            StoreDecision::NoStore(format!("{status}: rate limited (x-ratelimit-remaining: 0)"))
        }
        429 => StoreDecision::NoStore("429: rate limited".to_owned()),
        500..=599 => StoreDecision::NoStore(format!("{status}: server error")),
        400..=499 => StoreDecision::NoStore(format!("{status}: client error, not cached")),
        _ => StoreDecision::NoStore(format!("{status} is not a storable status")),
    }
}

/// `POST /graphql`: only a query gets here with a plan (mutations were bypassed, so the host
/// stores nothing for them). GraphQL reports errors, rate limiting included, inside a 200, so a
/// 200 that used up the rate limit may be that error and is not kept.
fn store_graphql(response: &Response) -> StoreDecision {
    let status = response.status;
    if headers::has_directive(&response.headers, "cache-control", "no-store") {
        return StoreDecision::NoStore(format!("graphql {status} says cache-control: no-store"));
    }
    if headers::rate_limit_exhausted(&response.headers) {
        return StoreDecision::NoStore(format!(
            "graphql {status}: rate limit used up, the body may be the rate-limit error"
        ));
    }
    match status {
        200 => StoreDecision::Store("graphql 200 is storable".to_owned()),
        _ => StoreDecision::NoStore(format!("graphql {status}: only a 200 is stored")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Header, Invalidation};
    use crate::headers::header;

    fn response(method: &str, path: &str, status: u16) -> Response {
        Response {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            status,
            headers: Vec::new(),
        }
    }

    fn with_headers(response: Response, headers: Vec<Header>) -> Response {
        Response {
            headers,
            ..response
        }
    }

    fn stored(response: &Response) -> Result<String, String> {
        match decide(response).store {
            StoreDecision::Store(why) => Ok(why),
            StoreDecision::NoStore(why) => Err(why),
        }
    }

    #[test]
    fn successes_and_permanent_redirects_are_stored() {
        for status in [200, 203, 204, 300, 301, 308] {
            assert!(
                stored(&response("GET", "/repos/o/r", status)).is_ok(),
                "{status}"
            );
            assert!(
                stored(&response("HEAD", "/repos/o/r", status)).is_ok(),
                "{status}"
            );
        }
    }

    #[test]
    fn not_found_and_gone_are_negatively_cached() {
        for status in [404, 410] {
            let why = stored(&response("GET", "/repos/o/r", status)).expect("stored");
            assert!(why.contains("negative caching"), "{why}");
        }
    }

    #[test]
    fn not_modified_is_left_to_the_host() {
        assert_eq!(
            stored(&response("GET", "/repos/o/r", 304)),
            Err("304 refreshes, host handles".to_owned())
        );
    }

    #[test]
    fn errors_rate_limits_and_temporary_answers_are_not_stored() {
        for status in [
            201, 202, 206, 302, 307, 400, 401, 403, 409, 422, 429, 500, 502, 503,
        ] {
            assert!(
                stored(&response("GET", "/repos/o/r", status)).is_err(),
                "{status}"
            );
        }
        let limited = with_headers(
            response("GET", "/repos/o/r", 403),
            vec![header("x-ratelimit-remaining", "0")],
        );
        assert!(stored(&limited).unwrap_err().contains("rate limited"));
    }

    #[test]
    fn response_no_store_is_honoured() {
        let response = with_headers(
            response("GET", "/repos/o/r", 200),
            vec![header("cache-control", "no-store")],
        );
        assert!(stored(&response).unwrap_err().contains("no-store"));
    }

    #[test]
    fn private_is_not_no_store() {
        // GitHub marks every authenticated answer `private`; the share scope handles privacy.
        let response = with_headers(
            response("GET", "/repos/o/r", 200),
            vec![header("cache-control", "private, max-age=60, s-maxage=60")],
        );
        assert!(stored(&response).is_ok());
    }

    #[test]
    fn reads_invalidate_nothing() {
        assert_eq!(
            decide(&response("GET", "/repos/o/r", 200)).invalidate,
            Vec::<Invalidation>::new()
        );
    }

    #[test]
    fn writes_are_never_stored_and_invalidate() {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let decision = decide(&response(method, "/repos/o/r/issues/5", 200));
            assert!(
                matches!(decision.store, StoreDecision::NoStore(_)),
                "{method}"
            );
            assert!(!decision.invalidate.is_empty(), "{method}");
        }
    }

    #[test]
    fn graphql_queries_store_a_200_and_invalidate_nothing() {
        let ok = decide(&response("POST", "/graphql", 200));
        assert!(matches!(ok.store, StoreDecision::Store(_)));
        assert!(ok.invalidate.is_empty());
        assert!(stored(&response("POST", "/graphql", 502)).is_err());
        let limited = with_headers(
            response("POST", "/graphql", 200),
            vec![header("x-ratelimit-remaining", "0")],
        );
        assert!(stored(&limited).is_err());
    }
}
