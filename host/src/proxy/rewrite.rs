//! URLs GitHub puts in headers (pagination `link`, redirect `location`) point at GitHub; the client
//! must keep talking to the proxy, so they are rewritten to the base the client used.

use http::{HeaderMap, HeaderValue, header};

/// Replaces the upstream base with the client-facing base in `link` and `location` headers.
pub fn rewrite_urls(headers: &mut HeaderMap, upstream_base: &str, client_base: &str) {
    for name in [header::LINK, header::LOCATION] {
        let rewritten: Vec<HeaderValue> = headers
            .get_all(&name)
            .iter()
            .map(|value| match value.to_str() {
                Ok(text) if text.contains(upstream_base) => {
                    HeaderValue::from_str(&text.replace(upstream_base, client_base))
                        .unwrap_or_else(|_| value.clone())
                }
                _ => value.clone(),
            })
            .collect();
        if rewritten.is_empty() {
            continue;
        }
        headers.remove(&name);
        for value in rewritten {
            headers.append(&name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_links_point_back_at_the_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://api.github.com/repos/o/r/issues?page=2>; rel=\"next\", \
                 <https://api.github.com/repos/o/r/issues?page=5>; rel=\"last\"",
            ),
        );
        rewrite_urls(
            &mut headers,
            "https://api.github.com",
            "http://127.0.0.1:8080",
        );
        let link = headers[header::LINK].to_str().unwrap();
        assert!(
            link.contains("<http://127.0.0.1:8080/repos/o/r/issues?page=2>"),
            "{link}"
        );
        assert!(!link.contains("api.github.com"));
    }

    #[test]
    fn other_hosts_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://codeload.github.com/o/r/zip"),
        );
        rewrite_urls(&mut headers, "https://api.github.com", "http://127.0.0.1:1");
        assert_eq!(
            headers[header::LOCATION],
            "https://codeload.github.com/o/r/zip"
        );
    }
}
