//! Reading the few HTTP headers the policy cares about from the host's header lists.

use crate::api::Header;

/// The value of the first header called `name` (names arrive lower-cased; compared loosely anyway).
pub fn value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
}

/// Whether any `name` header carries the comma-separated directive `directive` (`no-store`,
/// `no-cache`), ignoring case, whitespace and directive arguments (`no-cache="set-cookie"`).
pub fn has_directive(headers: &[Header], name: &str, directive: &str) -> bool {
    headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case(name))
        .flat_map(|header| header.value.split(','))
        .map(|item| item.split('=').next().unwrap_or_default().trim())
        .any(|item| item.eq_ignore_ascii_case(directive))
}

/// Whether the response says the rate limit is used up (`x-ratelimit-remaining: 0`).
pub fn rate_limit_exhausted(headers: &[Header]) -> bool {
    value(headers, "x-ratelimit-remaining").is_some_and(|remaining| remaining.trim() == "0")
}

#[cfg(test)]
pub(crate) fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_name() {
        let headers = [
            header("accept", "application/json"),
            header("x-ratelimit-remaining", "0"),
        ];
        assert_eq!(value(&headers, "accept"), Some("application/json"));
        assert_eq!(value(&headers, "etag"), None);
        assert!(rate_limit_exhausted(&headers));
        assert!(!rate_limit_exhausted(&[header(
            "x-ratelimit-remaining",
            "10"
        )]));
        assert!(!rate_limit_exhausted(&[]));
    }

    #[test]
    fn directives_are_tokens_not_substrings() {
        let headers = [header("cache-control", "private, max-age=60, No-Store")];
        assert!(has_directive(&headers, "cache-control", "no-store"));
        assert!(!has_directive(&headers, "cache-control", "no-cache"));
        assert!(has_directive(
            &[header("cache-control", "no-cache=\"x\"")],
            "cache-control",
            "no-cache"
        ));
        assert!(!has_directive(
            &[header("x-no-store", "no-store")],
            "cache-control",
            "no-store"
        ));
        assert!(!has_directive(
            &[header("cache-control", "no-storefront")],
            "cache-control",
            "no-store"
        ));
    }
}
