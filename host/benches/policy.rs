//! Decision latency of the embedded policy components: a pooled instance (the hot path) against a
//! fresh instantiation per call (what pooling saves). Run: `cargo bench -p ghmesh --bench policy`.
//! Process start to first decision is measured by `tests/bench/startup.sh` (hyperfine).

use criterion::{Criterion, criterion_group, criterion_main};
use ghmesh::policy::{ComponentSource, Limits, PolicyRuntime, cache, codeql, credentials};
use std::hint::black_box;

fn request() -> cache::Request {
    cache::Request {
        method: "GET".into(),
        path: "/repos/octo-org/hello-world/actions/runs".into(),
        query: "per_page=30".into(),
        headers: vec![cache::Header {
            name: "accept".into(),
            value: "application/vnd.github+json".into(),
        }],
        token_partition: "9f2c4e1ab07d3c55".into(),
        graphql_query: None,
        operation_ttls: vec![],
        default_ttl_seconds: 300,
    }
}

fn decisions(c: &mut Criterion) {
    let runtime = PolicyRuntime::new(Limits::default(), None).expect("runtime");
    let cache_policy = runtime
        .cache_policy(&ComponentSource::Embedded)
        .expect("cache policy");
    let request = request();
    let entry = cache::Entry {
        operation: "workflow-runs".into(),
        age_seconds: 30,
        ttl_seconds: 120,
        share: cache::ShareScope::Revalidate,
        has_etag: true,
        has_last_modified: true,
        same_token: true,
        status: 200,
        upstream: cache::UpstreamState::Healthy,
    };
    c.bench_function("cache-policy/on-request/pooled", |b| {
        b.iter(|| black_box(cache_policy.on_request(black_box(&request))))
    });
    c.bench_function("cache-policy/on-entry/pooled", |b| {
        b.iter(|| black_box(cache_policy.on_entry(black_box(&entry))))
    });
    c.bench_function("cache-policy/on-request/fresh-instance", |b| {
        b.iter(|| black_box(cache_policy.on_request_fresh(black_box(&request))))
    });

    let credential_scope = runtime
        .credential_scope(&ComponentSource::Embedded)
        .expect("credential scope");
    let credential = credentials::Credential {
        name: "NPM_TOKEN".into(),
        scope: credentials::Scope::Repo,
        scope_filter: Some("octo-org/*".into()),
        expires_at: None,
        require_verified: false,
    };
    let context = credentials::Context {
        repo: Some("octo-org/hello-world".into()),
        workflow_ref: None,
        runner: Some("fleet-runner-07".into()),
        verified: false,
        now: 1_795_338_000,
    };
    c.bench_function("credential-scope/decide/pooled", |b| {
        b.iter(|| black_box(credential_scope.decide(black_box(&credential), black_box(&context))))
    });

    let codeql_skip = runtime
        .codeql_skip(&ComponentSource::Embedded)
        .expect("codeql skip");
    let scan = codeql::ScanRequest {
        repo: "octo-org/hello-world".into(),
        commit: "b6c1".into(),
        tree_id: "4b82".into(),
        config_digest: "d".into(),
        codeql_version: "2.23.3".into(),
        category: "/language:python".into(),
        languages: vec!["python".into()],
        paths: vec![],
        paths_ignore: vec![],
        build_mode: "none".into(),
        changed_files: Some(vec![codeql::ChangedFile {
            path: "README.md".into(),
            previous_path: None,
            kind: codeql::ChangeKind::Modified,
        }]),
        candidate: Some(codeql::CachedScan {
            key: "k".into(),
            commit: "a1b2".into(),
            tree_id: "9a06".into(),
            config_digest: "d".into(),
            codeql_version: "2.23.3".into(),
            category: "/language:python".into(),
            languages: vec!["python".into()],
            full_analysis: true,
            age_seconds: 60,
            ttl_seconds: 86_400,
        }),
    };
    c.bench_function("codeql-skip/decide/pooled", |b| {
        b.iter(|| black_box(codeql_skip.decide(black_box(&scan))))
    });
}

criterion_group!(benches, decisions);
criterion_main!(benches);
