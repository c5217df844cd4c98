//! Request ids: every request the proxy answers gets one (a client's own `x-request-id` when it
//! is short, visible ASCII; a fresh UUID otherwise), handled inside a tracing span that carries
//! it, so every log line of that request says `request_id=…`, and returned as `x-request-id`.
//!
//! The span records method and path only: never headers or the query string, which may carry
//! credentials.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// The header that carries the id, both ways.
pub const HEADER: &str = "x-request-id";

/// Longest client-chosen id kept. Ids end up in every log line of their request: a long one
/// would let a client bloat the log, and a UUID (36) or a ULID (26) fits with room to spare.
const MAX_CLIENT_ID: usize = 64;

/// `router` with request ids and the per-request span around everything it does.
pub fn apply(router: Router) -> Router {
    // Outermost first: drop an unfit client id, set one, open the span, echo the id back.
    router.layer(
        ServiceBuilder::new()
            .layer(MapRequestLayer::new(drop_unfit_client_id))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(span))
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// Removes a client's `x-request-id` unless there is exactly one and it is fit to log, so that
/// [`SetRequestIdLayer`] generates one instead.
fn drop_unfit_client_id(mut request: Request<Body>) -> Request<Body> {
    if !has_fit_client_id(request.headers()) {
        request.headers_mut().remove(HEADER);
    }
    request
}

/// Whether the request carries exactly one id of 1 to [`MAX_CLIENT_ID`] visible ASCII
/// characters (no spaces or control characters, so it cannot forge or split a log line).
fn has_fit_client_id(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(HEADER).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => {
            let bytes = value.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_CLIENT_ID
                && bytes.iter().all(u8::is_ascii_graphic)
        }
        _ => false,
    }
}

/// The span of one request: its id, method and path.
fn span(request: &Request<Body>) -> tracing::Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn id_of(client_ids: &[&[u8]]) -> (String, String) {
        let app = apply(Router::new().route(
            "/",
            get(|headers: HeaderMap| async move {
                headers
                    .get(HEADER)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default()
            }),
        ));
        let mut request = Request::builder().uri("/");
        for id in client_ids {
            request = request.header(HEADER, http::HeaderValue::from_bytes(id).unwrap());
        }
        let response = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let returned = response.headers()[HEADER].to_str().unwrap().to_string();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        (returned, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_fit_client_id_is_kept_and_returned() {
        let (returned, seen) = id_of(&[b"build-42.step_7"]).await;
        assert_eq!(returned, "build-42.step_7");
        assert_eq!(seen, "build-42.step_7", "the handler sees the same id");
    }

    #[tokio::test]
    async fn unfit_client_ids_are_replaced_by_a_uuid() {
        let long = [b'a'; MAX_CLIENT_ID + 1];
        for ids in [
            &[b"has space".as_slice()][..],
            &[b"tab\there".as_slice()],
            &[b"caf\xc3\xa9".as_slice()],
            &[b"".as_slice()],
            &[long.as_slice()],
            &[b"one".as_slice(), b"two".as_slice()],
            &[],
        ] {
            let (returned, seen) = id_of(ids).await;
            assert_eq!(returned.len(), 36, "{returned}");
            assert_eq!(returned.matches('-').count(), 4, "{returned}");
            assert_eq!(seen, returned);
        }
    }
}
