//! The request decision: bypass, or cache under which class, TTL and share scope.

use crate::api::{CachePlan, Request, RequestDecision, ShareScope};
use crate::graphql::{self, Operation};
use crate::operation::{self, Class};
use crate::path::ApiPath;
use crate::{headers, share, ttl, uncacheable};

/// Decides whether and how `request` uses the cache.
pub fn decide(request: &Request) -> RequestDecision {
    // Methods arrive uppercase from the host; compare without allocating a copy.
    let method = request.method.as_str();
    let Some(path) = ApiPath::parse(&request.path) else {
        return bypass(format!("malformed path {:?}: not cached", request.path));
    };
    let is_graphql = method.eq_ignore_ascii_case("POST") && path.matches("/graphql");
    if !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD") && !is_graphql {
        return bypass(format!("{method} is a write: passes through uncached"));
    }
    for directive in ["no-store", "no-cache"] {
        if headers::has_directive(&request.headers, "cache-control", directive) {
            return bypass(format!("the request says cache-control: {directive}"));
        }
    }
    if headers::has_directive(&request.headers, "pragma", "no-cache") {
        return bypass("the request says pragma: no-cache".to_owned());
    }
    if is_graphql {
        return graphql_decision(request);
    }
    if let Some(why) = uncacheable::reason(&path) {
        return bypass(format!("{path} is never cached: {why}"));
    }
    let (share, share_why) = share::scope(&path);
    plan(request, operation::classify(&path), share, share_why)
}

/// `POST /graphql`: cached per token when the document is clearly only queries.
fn graphql_decision(request: &Request) -> RequestDecision {
    let Some(document) = request.graphql_query.as_deref() else {
        return bypass("POST /graphql without a document: not cached".to_owned());
    };
    match graphql::classify(document) {
        Operation::Query => plan(
            request,
            operation::GRAPHQL,
            ShareScope::Token,
            "share token: GraphQL answers depend on the caller",
        ),
        Operation::Mutation => {
            bypass("graphql mutation is a write: passes through uncached".to_owned())
        }
        Operation::Subscription => bypass("graphql subscription: not cached".to_owned()),
        Operation::Unclear(why) => bypass(format!(
            "graphql document is not clearly a query ({why}): not cached"
        )),
    }
}

/// A cache plan for `class`, with the TTL resolved against the request's configuration.
fn plan(request: &Request, class: Class, share: ShareScope, share_why: &str) -> RequestDecision {
    let ttl = ttl::resolve(&class, &request.operation_ttls, request.default_ttl_seconds);
    RequestDecision::Cache(CachePlan {
        operation: class.name.to_owned(),
        ttl_seconds: ttl.seconds,
        share,
        reason: {
            let mut reason = String::with_capacity(128);
            ttl.describe_into(&class, &mut reason);
            reason.push_str("; ");
            reason.push_str(share_why);
            reason
        },
    })
}

fn bypass(reason: String) -> RequestDecision {
    RequestDecision::Bypass(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Header, OperationTtl};
    use crate::headers::header;

    fn request(method: &str, path: &str) -> Request {
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            token_partition: "p1".to_owned(),
            graphql_query: None,
            operation_ttls: Vec::new(),
            default_ttl_seconds: 300,
        }
    }

    fn get(path: &str) -> Request {
        request("GET", path)
    }

    fn graphql(document: &str) -> Request {
        Request {
            graphql_query: Some(document.to_owned()),
            ..request("POST", "/graphql")
        }
    }

    fn with_headers(request: Request, headers: Vec<Header>) -> Request {
        Request { headers, ..request }
    }

    fn cache_plan(request: &Request) -> CachePlan {
        match decide(request) {
            RequestDecision::Cache(plan) => plan,
            RequestDecision::Bypass(why) => {
                panic!("{} {} bypassed: {why}", request.method, request.path)
            }
        }
    }

    fn bypass_reason(request: &Request) -> String {
        match decide(request) {
            RequestDecision::Bypass(why) => why,
            RequestDecision::Cache(plan) => {
                panic!("{} {} cached: {plan:?}", request.method, request.path)
            }
        }
    }

    fn class_and_ttl(request: &Request) -> (String, u32) {
        let plan = cache_plan(request);
        (plan.operation, plan.ttl_seconds)
    }

    #[test]
    fn seed_ttls_per_operation_class() {
        assert_eq!(
            class_and_ttl(&get("/repos/o/r/actions/runs")),
            ("workflow-runs".into(), 120)
        );
        assert_eq!(
            class_and_ttl(&get("/user/repos")),
            ("repos-list".into(), 600)
        );
        assert_eq!(class_and_ttl(&get("/repos/o/r")), ("repo".into(), 300));
        assert_eq!(
            class_and_ttl(&get("/repos/o/r/actions/workflows")),
            ("workflows".into(), 300)
        );
        assert_eq!(
            class_and_ttl(&get("/orgs/o/actions/runners")),
            ("runners".into(), 60)
        );
        assert_eq!(
            class_and_ttl(&get("/repos/o/r/code-scanning/analyses")),
            ("codeql".into(), 86_400)
        );
    }

    #[test]
    fn reasons_name_the_class_and_ttl_source() {
        let plan = cache_plan(&get("/repos/o/r/actions/runs"));
        assert!(
            plan.reason
                .starts_with("workflow-runs: 120 s from the seed table"),
            "{}",
            plan.reason
        );
    }

    #[test]
    fn unknown_paths_use_the_request_default_ttl() {
        let request = Request {
            default_ttl_seconds: 45,
            ..get("/repos/o/r/pulls/3")
        };
        assert_eq!(class_and_ttl(&request), ("default".into(), 45));
        assert!(
            cache_plan(&request)
                .reason
                .starts_with("default: 45 s from the default TTL")
        );
    }

    #[test]
    fn operation_ttls_override_the_seed_table() {
        let request = Request {
            operation_ttls: vec![OperationTtl {
                operation: "workflow-runs".into(),
                ttl_seconds: 15,
            }],
            ..get("/repos/o/r/actions/runs/9")
        };
        let plan = cache_plan(&request);
        assert_eq!(
            (plan.operation.as_str(), plan.ttl_seconds),
            ("workflow-runs", 15)
        );
        assert!(
            plan.reason.starts_with("workflow-runs: 15 s from config"),
            "{}",
            plan.reason
        );
    }

    #[test]
    fn a_zero_override_still_caches() {
        let request = Request {
            operation_ttls: vec![OperationTtl {
                operation: "repo".into(),
                ttl_seconds: 0,
            }],
            ..get("/repos/o/r")
        };
        assert_eq!(class_and_ttl(&request), ("repo".into(), 0));
    }

    #[test]
    fn head_is_a_read() {
        assert_eq!(
            class_and_ttl(&request("HEAD", "/repos/o/r")),
            ("repo".into(), 300)
        );
        assert_eq!(
            class_and_ttl(&request("get", "/repos/o/r")),
            ("repo".into(), 300)
        );
    }

    #[test]
    fn writes_bypass() {
        for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let why = bypass_reason(&request(method, "/repos/o/r/issues"));
            assert!(why.contains("write"), "{method}: {why}");
        }
    }

    #[test]
    fn request_cache_control_bypasses() {
        for value in ["no-cache", "no-store", "max-age=0, no-cache"] {
            let why = bypass_reason(&with_headers(
                get("/repos/o/r"),
                vec![header("cache-control", value)],
            ));
            assert!(why.contains("cache-control"), "{why}");
        }
        bypass_reason(&with_headers(
            get("/repos/o/r"),
            vec![header("pragma", "no-cache")],
        ));
        cache_plan(&with_headers(
            get("/repos/o/r"),
            vec![header("cache-control", "max-age=0")],
        ));
    }

    #[test]
    fn never_cached_paths_bypass() {
        for path in [
            "/rate_limit",
            "/app/installations/1/access_tokens",
            "/authorizations",
            "/repos/o/r/actions/secrets",
            "/orgs/o/actions/variables",
            "/repos/o/r/dependabot/secrets",
            "/repos/o/r/actions/runners/registration-token",
            "/repos/o/r/actions/oidc/customization/sub",
            "/repos/o/r/actions/runs/1/logs",
            "/repos/o/r/actions/artifacts/1/zip",
            "/repos/o/r/tarball/main",
            "/repos/o/r/zipball",
        ] {
            assert!(bypass_reason(&get(path)).contains("never cached"), "{path}");
        }
    }

    #[test]
    fn malformed_paths_bypass() {
        assert!(bypass_reason(&get("/repos//r")).contains("malformed"));
        assert!(bypass_reason(&get("repos/o/r")).contains("malformed"));
    }

    #[test]
    fn share_scopes() {
        assert_eq!(cache_plan(&get("/user")).share, ShareScope::Token);
        assert_eq!(cache_plan(&get("/user/repos")).share, ShareScope::Token);
        assert_eq!(
            cache_plan(&get("/installation/repositories")).share,
            ShareScope::Token
        );
        assert_eq!(cache_plan(&get("/notifications")).share, ShareScope::Token);
        assert_eq!(cache_plan(&get("/repos/o/r")).share, ShareScope::Revalidate);
        assert_eq!(
            cache_plan(&get("/orgs/o/repos")).share,
            ShareScope::Revalidate
        );
        assert_eq!(cache_plan(&get("/meta")).share, ShareScope::Revalidate);
        let paginated = Request {
            query: "per_page=100&page=2".into(),
            ..get("/repos/o/r/issues")
        };
        assert_eq!(cache_plan(&paginated).share, ShareScope::Revalidate);
    }

    #[test]
    fn graphql_queries_are_cached_per_token() {
        let plan = cache_plan(&graphql("query { viewer { login } }"));
        assert_eq!(plan.operation, "graphql");
        assert_eq!(plan.ttl_seconds, 300);
        assert_eq!(plan.share, ShareScope::Token);
        assert_eq!(
            cache_plan(&graphql("{ viewer { login } }")).operation,
            "graphql"
        );
    }

    #[test]
    fn graphql_mutations_subscriptions_and_unclear_documents_bypass() {
        assert!(
            bypass_reason(&graphql("mutation { addStar(input: {}) { x } }")).contains("mutation")
        );
        assert!(bypass_reason(&graphql("subscription { s }")).contains("subscription"));
        assert!(bypass_reason(&graphql("query { a")).contains("not clearly a query"));
        assert!(bypass_reason(&request("POST", "/graphql")).contains("without a document"));
    }

    #[test]
    fn graphql_respects_request_cache_control() {
        let request = with_headers(graphql("{ a }"), vec![header("cache-control", "no-cache")]);
        assert!(bypass_reason(&request).contains("no-cache"));
    }

    #[test]
    fn only_post_graphql_is_special() {
        let why = bypass_reason(&Request {
            graphql_query: Some("{ a }".into()),
            ..request("POST", "/repos/o/r/issues")
        });
        assert!(why.contains("write"));
    }
}
