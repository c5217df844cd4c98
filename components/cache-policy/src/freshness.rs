//! The entry decision: serve, revalidate, refetch or serve stale.
//!
//! Two questions, in order: may this requester see the entry at all (its share scope and whose
//! token fetched it), and is it still fresh enough (age against TTL, and whether GitHub can answer).

use crate::api::{Entry, EntryDecision, ShareScope, UpstreamState};

/// How long past its TTL an entry may still be served stale while GitHub cannot answer.
pub const MAX_STALENESS_SECONDS: u64 = 24 * 60 * 60;

/// Decides what to do with a stored entry that matches a cacheable request.
pub fn decide(entry: &Entry) -> EntryDecision {
    if !storable_status(entry.status) {
        return EntryDecision::Refetch(format!("stored status {} is not servable", entry.status));
    }
    if !entry.same_token
        && let Some(decision) = cross_token(entry)
    {
        return decision;
    }
    freshness(entry)
}

/// Statuses the policy stores (see `response`); anything else in the store is not ours to serve.
fn storable_status(status: u16) -> bool {
    matches!(status, 200 | 203 | 204 | 300 | 301 | 308 | 404 | 410)
}

/// The entry was fetched with another credential: a decision, or `None` when the share scope lets
/// the requester use it like its own (`fleet`).
fn cross_token(entry: &Entry) -> Option<EntryDecision> {
    if matches!(entry.status, 404 | 410) {
        return Some(EntryDecision::Refetch(format!(
            "{} fetched with another token: what one token cannot see, another may",
            entry.status
        )));
    }
    match entry.share {
        ShareScope::Fleet => None,
        ShareScope::Token => Some(EntryDecision::Refetch(
            "share token: another token's entry is never served".to_owned(),
        )),
        ShareScope::Revalidate if entry.upstream != UpstreamState::Healthy => {
            Some(EntryDecision::Refetch(format!(
                "share revalidate: another token's entry cannot be verified while upstream is {}",
                upstream_name(entry.upstream)
            )))
        }
        ShareScope::Revalidate if entry.has_last_modified => Some(EntryDecision::Revalidate(
            "share revalidate: another token's entry, revalidate with the requester's credential \
             (if-modified-since; etags are per token)"
                .to_owned(),
        )),
        ShareScope::Revalidate if entry.has_etag => Some(EntryDecision::Revalidate(
            "share revalidate: another token's entry, revalidate with the requester's credential \
             (etag only: a 304 is unlikely, since etags are per token)"
                .to_owned(),
        )),
        ShareScope::Revalidate => Some(EntryDecision::Refetch(
            "share revalidate: another token's entry has no validator to revalidate with"
                .to_owned(),
        )),
    }
}

/// The requester may use the entry: serve it while fresh, otherwise ask GitHub if it can answer.
fn freshness(entry: &Entry) -> EntryDecision {
    let (age, ttl) = (entry.age_seconds, u64::from(entry.ttl_seconds));
    if ttl > 0 && age <= ttl {
        return EntryDecision::Serve(format!("fresh: age {age} s within TTL {ttl} s"));
    }
    let expired = if ttl == 0 {
        "TTL 0 (always revalidate)".to_owned()
    } else {
        format!("expired: age {age} s past TTL {ttl} s")
    };
    if entry.upstream != UpstreamState::Healthy {
        let stale_for = age.saturating_sub(ttl);
        let upstream = upstream_name(entry.upstream);
        return if stale_for <= MAX_STALENESS_SECONDS {
            EntryDecision::ServeStale(format!("{expired}; upstream is {upstream}, serve stale"))
        } else {
            EntryDecision::Refetch(format!(
                "{expired}; upstream is {upstream} but the entry is {stale_for} s stale, over the \
                 {MAX_STALENESS_SECONDS} s bound"
            ))
        };
    }
    if entry.has_etag || entry.has_last_modified {
        EntryDecision::Revalidate(format!("{expired}; revalidate conditionally"))
    } else {
        EntryDecision::Refetch(format!("{expired}; no validator, refetch"))
    }
}

fn upstream_name(state: UpstreamState) -> &'static str {
    match state {
        UpstreamState::Healthy => "healthy",
        UpstreamState::RateLimited => "rate-limited",
        UpstreamState::Failing => "failing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            operation: "repo".to_owned(),
            age_seconds: 10,
            ttl_seconds: 300,
            share: ShareScope::Revalidate,
            has_etag: true,
            has_last_modified: true,
            same_token: true,
            status: 200,
            upstream: UpstreamState::Healthy,
        }
    }

    fn other_token(share: ShareScope) -> Entry {
        Entry {
            same_token: false,
            share,
            ..entry()
        }
    }

    fn kind(decision: &EntryDecision) -> &'static str {
        match decision {
            EntryDecision::Serve(_) => "serve",
            EntryDecision::Revalidate(_) => "revalidate",
            EntryDecision::Refetch(_) => "refetch",
            EntryDecision::ServeStale(_) => "serve-stale",
        }
    }

    fn decided(entry: &Entry) -> &'static str {
        kind(&decide(entry))
    }

    #[test]
    fn fresh_entries_are_served_up_to_and_including_the_ttl() {
        assert_eq!(decided(&entry()), "serve");
        assert_eq!(
            decided(&Entry {
                age_seconds: 300,
                ..entry()
            }),
            "serve"
        );
        assert_eq!(
            decided(&Entry {
                age_seconds: 301,
                ..entry()
            }),
            "revalidate"
        );
    }

    #[test]
    fn expired_entries_revalidate_when_they_have_a_validator() {
        let old = Entry {
            age_seconds: 400,
            ..entry()
        };
        assert_eq!(decided(&old), "revalidate");
        assert_eq!(
            decided(&Entry {
                has_etag: false,
                ..old.clone()
            }),
            "revalidate"
        );
        assert_eq!(
            decided(&Entry {
                has_last_modified: false,
                ..old.clone()
            }),
            "revalidate"
        );
        assert_eq!(
            decided(&Entry {
                has_etag: false,
                has_last_modified: false,
                ..old
            }),
            "refetch"
        );
    }

    #[test]
    fn a_zero_ttl_always_revalidates() {
        assert_eq!(
            decided(&Entry {
                ttl_seconds: 0,
                age_seconds: 0,
                ..entry()
            }),
            "revalidate"
        );
    }

    #[test]
    fn expired_entries_are_served_stale_while_upstream_cannot_answer() {
        for upstream in [UpstreamState::RateLimited, UpstreamState::Failing] {
            let old = Entry {
                age_seconds: 400,
                upstream,
                ..entry()
            };
            assert_eq!(decided(&old), "serve-stale");
            let no_validator = Entry {
                has_etag: false,
                has_last_modified: false,
                ..old
            };
            assert_eq!(decided(&no_validator), "serve-stale");
        }
    }

    #[test]
    fn staleness_is_bounded_to_a_day_past_the_ttl() {
        let failing = Entry {
            upstream: UpstreamState::Failing,
            ..entry()
        };
        let at_bound = Entry {
            age_seconds: 300 + MAX_STALENESS_SECONDS,
            ..failing.clone()
        };
        assert_eq!(decided(&at_bound), "serve-stale");
        let past_bound = Entry {
            age_seconds: 301 + MAX_STALENESS_SECONDS,
            ..failing
        };
        assert_eq!(decided(&past_bound), "refetch");
    }

    #[test]
    fn fresh_entries_are_served_even_while_upstream_fails() {
        assert_eq!(
            decided(&Entry {
                upstream: UpstreamState::Failing,
                ..entry()
            }),
            "serve"
        );
    }

    #[test]
    fn another_tokens_private_entry_is_never_served() {
        let private = other_token(ShareScope::Token);
        assert_eq!(decided(&private), "refetch");
        assert_eq!(
            decided(&Entry {
                upstream: UpstreamState::Failing,
                age_seconds: 400,
                ..private
            }),
            "refetch"
        );
    }

    #[test]
    fn another_tokens_shared_entry_is_revalidated_even_when_fresh() {
        let decision = decide(&other_token(ShareScope::Revalidate));
        assert_eq!(kind(&decision), "revalidate");
        let EntryDecision::Revalidate(why) = decision else {
            unreachable!()
        };
        assert!(why.contains("if-modified-since"), "{why}");
        let etag_only = Entry {
            has_last_modified: false,
            ..other_token(ShareScope::Revalidate)
        };
        assert_eq!(decided(&etag_only), "revalidate");
    }

    #[test]
    fn another_tokens_shared_entry_without_validator_is_refetched() {
        let bare = Entry {
            has_etag: false,
            has_last_modified: false,
            ..other_token(ShareScope::Revalidate)
        };
        assert_eq!(decided(&bare), "refetch");
    }

    #[test]
    fn another_tokens_shared_entry_is_never_served_stale() {
        for upstream in [UpstreamState::RateLimited, UpstreamState::Failing] {
            let entry = Entry {
                upstream,
                age_seconds: 400,
                ..other_token(ShareScope::Revalidate)
            };
            assert_eq!(decided(&entry), "refetch");
            let fresh = Entry {
                upstream,
                ..other_token(ShareScope::Revalidate)
            };
            assert_eq!(decided(&fresh), "refetch");
        }
    }

    #[test]
    fn fleet_entries_are_treated_like_the_requesters_own() {
        assert_eq!(decided(&other_token(ShareScope::Fleet)), "serve");
        let old = Entry {
            age_seconds: 400,
            ..other_token(ShareScope::Fleet)
        };
        assert_eq!(decided(&old), "revalidate");
        assert_eq!(
            decided(&Entry {
                upstream: UpstreamState::RateLimited,
                ..old
            }),
            "serve-stale"
        );
    }

    #[test]
    fn negative_entries_are_served_only_to_their_own_token() {
        assert_eq!(
            decided(&Entry {
                status: 404,
                ..entry()
            }),
            "serve"
        );
        assert_eq!(
            decided(&Entry {
                status: 410,
                ..entry()
            }),
            "serve"
        );
        assert_eq!(
            decided(&Entry {
                status: 404,
                ..other_token(ShareScope::Fleet)
            }),
            "refetch"
        );
        assert_eq!(
            decided(&Entry {
                status: 404,
                ..other_token(ShareScope::Revalidate)
            }),
            "refetch"
        );
    }

    #[test]
    fn unexpected_stored_statuses_are_refetched() {
        for status in [0, 201, 302, 304, 403, 500] {
            assert_eq!(decided(&Entry { status, ..entry() }), "refetch", "{status}");
        }
    }
}
