//! Credential vault costs (issue 6): opening one sealed value with the key in hand, a whole `get`
//! (lock, read, scope decision, audit record, decrypt), an `inject` of 10 credentials, and the
//! PBKDF2 derivation of a passphrase key. Run: `tests/bench/credentials.sh` (or
//! `cargo bench -p ghmesh --bench credentials`).

use criterion::{Criterion, criterion_group, criterion_main};
use ghmesh::credentials::access::AccessContext;
use ghmesh::credentials::audit::Action;
use ghmesh::credentials::inject::{self, InjectTargets};
use ghmesh::credentials::manager::{Manager, NewCredential};
use ghmesh::credentials::master_key::KeyStoreChoice;
use ghmesh::credentials::record::{Metadata, Record, Scope};
use ghmesh::credentials::vault::KeyOptions;
use ghmesh::crypto::{VAULT_KDF_ITERATIONS, VaultKey};
use ghmesh::policy::{ComponentSource, Limits, PolicyRuntime};
use std::hint::black_box;
use std::time::Duration;

const VALUE: &[u8] = b"ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

fn vault(c: &mut Criterion) {
    let key = VaultKey::generate();
    let meta = Metadata {
        name: "NPM_TOKEN".into(),
        scope: Scope::Repo,
        scope_filter: Some("octo-org/*".into()),
        expires_at: None,
        require_verified: false,
        created_at: 1,
        updated_at: 1,
        version: 1,
    };
    let record = Record::seal(meta, VALUE, &key);
    c.bench_function("credentials/open-value (key in hand)", |b| {
        b.iter(|| black_box(record.open(black_box(&key)).unwrap()))
    });

    let dir = tempfile::tempdir().unwrap();
    let manager = Manager::new(
        dir.path().join("vault"),
        KeyOptions {
            choice: Some(KeyStoreChoice::File),
            passphrase: None,
        },
    );
    let names: Vec<String> = (0..10).map(|i| format!("TOKEN_{i}")).collect();
    for name in &names {
        let new = NewCredential {
            name: name.clone(),
            scope: Scope::Repo,
            scope_filter: Some("octo-org/*".into()),
            ttl_hours: None,
            require_verified: false,
        };
        manager.store(&new, VALUE).unwrap();
    }
    let runtime = PolicyRuntime::new(Limits::default(), None).unwrap();
    let scope = runtime
        .credential_scope(&ComponentSource::Embedded)
        .unwrap();
    let context = AccessContext {
        repo: Some("octo-org/app".into()),
        ..AccessContext::default()
    };
    let one = [names[0].clone()];
    c.bench_function(
        "credentials/get (lock, read, decide, audit, decrypt)",
        |b| {
            b.iter(|| {
                let granted = manager.access(&scope, &one, &context, Action::Get).unwrap();
                black_box(granted.unwrap())
            })
        },
    );
    let targets = InjectTargets {
        github_env: dir.path().join("github_env"),
        github_output: None,
    };
    c.bench_function("credentials/inject 10", |b| {
        b.iter(|| {
            let granted = manager
                .access(&scope, &names, &context, Action::Inject)
                .unwrap()
                .unwrap();
            let pairs: Vec<(&str, &str)> = granted
                .iter()
                .map(|g| (g.meta.name.as_str(), std::str::from_utf8(&g.value).unwrap()))
                .collect();
            let report = inject::inject(&pairs, &mut std::io::sink(), &targets).unwrap();
            black_box(report.into_result().unwrap())
        })
    });
    c.bench_function("credentials/pbkdf2 100k (passphrase key)", |b| {
        b.iter(|| {
            black_box(
                VaultKey::derive(
                    black_box(b"a passphrase"),
                    b"0123456789abcdef",
                    VAULT_KDF_ITERATIONS,
                )
                .unwrap(),
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = vault
}
criterion_main!(benches);
