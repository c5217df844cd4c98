//! The skip decision: check the candidate matches the request, reuse it outright on the same tree,
//! otherwise only when every changed file is provably irrelevant. Every doubt is a reason to run.

use std::collections::BTreeSet;

use crate::bindings::exports::ghmesh::policy::codeql::{
    CachedScan, ReusePlan, ScanRequest, SkipDecision,
};
use crate::languages::{self, Language};
use crate::relevance::Relevance;

/// How many irrelevant files the reuse reason lists before summarising the rest.
const LISTED_FILES: usize = 5;

/// Most changed files judged in one call. Each costs the host's fuel; past this, a fuel trap
/// would end in a run anyway, so say so plainly instead.
const MAX_CHANGED_FILES: usize = 1000;

/// Decides whether `request` may reuse its candidate.
pub fn decide(request: &ScanRequest) -> SkipDecision {
    match reuse_plan(request) {
        Ok(plan) => SkipDecision::Reuse(plan),
        Err(reason) => SkipDecision::Run(reason),
    }
}

/// The plan, or the reason to run.
fn reuse_plan(request: &ScanRequest) -> Result<ReusePlan, String> {
    let candidate = request
        .candidate
        .as_ref()
        .ok_or("no cached scan for these inputs")?;
    check_usable(candidate)?;
    let languages = check_same_inputs(request, candidate)?;
    if !request.tree_id.is_empty() && request.tree_id == candidate.tree_id {
        return Ok(ReusePlan {
            key: candidate.key.clone(),
            exact: true,
            reason: format!(
                "same source tree {} and inputs as cached scan {}",
                request.tree_id, candidate.key
            ),
        });
    }
    let changes = request
        .changed_files
        .as_ref()
        .ok_or("changed files unknown")?;
    if changes.is_empty() {
        return Err("no changed files reported but the source trees differ".to_string());
    }
    let relevance = Relevance::new(
        languages,
        &request.build_mode,
        &request.paths,
        &request.paths_ignore,
    )?;
    if changes.len() > MAX_CHANGED_FILES {
        return Err(format!(
            "{} changed files are more than the {MAX_CHANGED_FILES} this policy checks",
            changes.len()
        ));
    }
    let (mut listed, mut unlisted) = (Vec::new(), 0);
    for change in changes {
        for (path, why) in relevance.check(change)? {
            if listed.len() < LISTED_FILES {
                listed.push(format!("{path} ({why})"));
            } else {
                unlisted += 1;
            }
        }
    }
    let mut listed = listed.join(", ");
    if unlisted > 0 {
        listed.push_str(&format!(" and {unlisted} more"));
    }
    let count = changes.len();
    let files = if count == 1 { "file" } else { "files" };
    Ok(ReusePlan {
        key: candidate.key.clone(),
        exact: false,
        reason: format!("{count} changed {files}, none relevant: {listed}"),
    })
}

/// Only a whole-repository result that has not expired stands in for a full scan.
fn check_usable(candidate: &CachedScan) -> Result<(), String> {
    if !candidate.full_analysis {
        return Err(format!(
            "cached scan {} covers only a pull request's diff",
            candidate.key
        ));
    }
    if candidate.age_seconds > candidate.ttl_seconds {
        return Err(format!(
            "cached scan {} expired ({}s old, reusable for {}s)",
            candidate.key, candidate.age_seconds, candidate.ttl_seconds
        ));
    }
    Ok(())
}

/// Returns the analysed languages once version, configuration, category and languages all match.
fn check_same_inputs(
    request: &ScanRequest,
    candidate: &CachedScan,
) -> Result<BTreeSet<Language>, String> {
    if request.codeql_version.is_empty() || request.config_digest.is_empty() {
        return Err("CodeQL version or configuration digest unknown".to_string());
    }
    let differs = |what: &str, cached: &str, requested: &str| {
        format!("{what} differs (cached {cached:?}, requested {requested:?})")
    };
    if request.codeql_version != candidate.codeql_version {
        let (c, r) = (&candidate.codeql_version, &request.codeql_version);
        return Err(differs("CodeQL version", c, r));
    }
    if request.config_digest != candidate.config_digest {
        let (c, r) = (&candidate.config_digest, &request.config_digest);
        return Err(differs("configuration digest", c, r));
    }
    if request.category != candidate.category {
        return Err(differs("category", &candidate.category, &request.category));
    }
    let unknown = |name: String| format!("unknown language {name:?}");
    let requested = languages::parse_set(&request.languages).map_err(unknown)?;
    let cached = languages::parse_set(&candidate.languages).map_err(unknown)?;
    if requested.is_empty() {
        return Err("no languages requested".to_string());
    }
    if requested != cached {
        let (c, r) = (languages::render(&cached), languages::render(&requested));
        return Err(differs("language set", &c, &r));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::ghmesh::policy::codeql::{ChangeKind, ChangedFile};

    const CACHED_TREE: &str = "1111111111111111111111111111111111111111";
    const NEW_TREE: &str = "2222222222222222222222222222222222222222";

    fn candidate() -> CachedScan {
        CachedScan {
            key: "codeql-abc".to_string(),
            commit: "aaaa".to_string(),
            tree_id: CACHED_TREE.to_string(),
            config_digest: "sha256:cfg".to_string(),
            codeql_version: "2.21.0".to_string(),
            category: "/language:python".to_string(),
            languages: vec!["python".to_string()],
            full_analysis: true,
            age_seconds: 60,
            ttl_seconds: 3600,
        }
    }

    /// A python scan of a new tree changing `paths` since the candidate.
    fn request(paths: &[&str]) -> ScanRequest {
        let changes = paths.iter().map(|p| modified(p)).collect();
        ScanRequest {
            repo: "octo/app".to_string(),
            commit: "bbbb".to_string(),
            tree_id: NEW_TREE.to_string(),
            config_digest: "sha256:cfg".to_string(),
            codeql_version: "2.21.0".to_string(),
            category: "/language:python".to_string(),
            languages: vec!["python".to_string()],
            paths: vec![],
            paths_ignore: vec![],
            build_mode: "none".to_string(),
            changed_files: Some(changes),
            candidate: Some(candidate()),
        }
    }

    /// The same request on the candidate's tree.
    fn same_tree() -> ScanRequest {
        ScanRequest {
            tree_id: CACHED_TREE.to_string(),
            changed_files: None,
            ..request(&[])
        }
    }

    fn modified(path: &str) -> ChangedFile {
        ChangedFile {
            path: path.to_string(),
            previous_path: None,
            kind: ChangeKind::Modified,
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[track_caller]
    fn runs(request: &ScanRequest, expected: &str) {
        match decide(request) {
            SkipDecision::Run(reason) => {
                assert!(reason.contains(expected), "{reason:?} lacks {expected:?}")
            }
            SkipDecision::Reuse(plan) => panic!("expected run, got reuse: {}", plan.reason),
        }
    }

    #[track_caller]
    fn reuses(request: &ScanRequest) -> ReusePlan {
        match decide(request) {
            SkipDecision::Reuse(plan) => {
                assert_eq!(plan.key, "codeql-abc");
                plan
            }
            SkipDecision::Run(reason) => panic!("expected reuse, got run: {reason}"),
        }
    }

    #[test]
    fn no_candidate_runs() {
        let mut r = same_tree();
        r.candidate = None;
        runs(&r, "no cached scan for these inputs");
    }

    #[test]
    fn same_tree_is_an_exact_reuse() {
        let plan = reuses(&same_tree());
        assert!(plan.exact);
        assert!(plan.reason.contains(CACHED_TREE), "{}", plan.reason);
    }

    #[test]
    fn empty_tree_ids_are_not_the_same_tree() {
        let mut r = request(&[]);
        r.tree_id.clear();
        r.candidate.as_mut().unwrap().tree_id.clear();
        runs(&r, "trees differ");
    }

    #[test]
    fn diff_only_candidate_runs() {
        let mut r = same_tree();
        r.candidate.as_mut().unwrap().full_analysis = false;
        runs(&r, "only a pull request's diff");
    }

    #[test]
    fn expired_candidate_runs_but_the_last_second_counts() {
        let mut r = same_tree();
        r.candidate.as_mut().unwrap().age_seconds = 3600;
        reuses(&r);
        r.candidate.as_mut().unwrap().age_seconds = 3601;
        runs(&r, "expired");
    }

    #[test]
    fn differing_inputs_run_and_say_which() {
        let mut r = same_tree();
        r.codeql_version = "2.22.0".to_string();
        runs(&r, "CodeQL version differs");
        let mut r = same_tree();
        r.config_digest = "sha256:other".to_string();
        runs(&r, "configuration digest differs");
        let mut r = same_tree();
        r.category = "/language:python-extra".to_string();
        runs(&r, "category differs");
        let mut r = same_tree();
        r.languages = strings(&["python", "go"]);
        let expected = "language set differs (cached \"python\", requested \"go, python\")";
        runs(&r, expected);
    }

    #[test]
    fn missing_version_or_digest_runs_even_if_both_sides_lack_it() {
        let mut r = same_tree();
        r.config_digest.clear();
        r.candidate.as_mut().unwrap().config_digest.clear();
        runs(&r, "digest unknown");
    }

    #[test]
    fn language_aliases_are_normalised_and_compared_as_sets() {
        let mut r = same_tree();
        r.languages = strings(&["javascript", "typescript", "java"]);
        let cached = strings(&["java-kotlin", "javascript-typescript"]);
        r.candidate.as_mut().unwrap().languages = cached;
        assert!(reuses(&r).exact);
    }

    #[test]
    fn unknown_or_missing_languages_run() {
        let mut r = same_tree();
        r.languages = strings(&["cobol"]);
        runs(&r, "unknown language \"cobol\"");
        r.languages.clear();
        r.candidate.as_mut().unwrap().languages.clear();
        runs(&r, "no languages requested");
    }

    #[test]
    fn unknown_changed_files_run() {
        let mut r = request(&[]);
        r.changed_files = None;
        runs(&r, "changed files unknown");
    }

    #[test]
    fn no_changes_on_a_different_tree_run() {
        let expected = "no changed files reported but the source trees differ";
        runs(&request(&[]), expected);
    }

    #[test]
    fn documentation_only_changes_reuse() {
        let plan = reuses(&request(&["README.md", "docs/guide.md", "assets/logo.png"]));
        assert!(!plan.exact);
        let expected = "3 changed files, none relevant: README.md (documentation or an asset)";
        assert!(plan.reason.starts_with(expected), "{}", plan.reason);
    }

    #[test]
    fn reuse_reason_summarises_long_lists() {
        let paths: Vec<String> = (0..8).map(|i| format!("notes/{i}.md")).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let plan = reuses(&request(&paths));
        assert!(plan.reason.ends_with("and 3 more"), "{}", plan.reason);
    }

    #[test]
    fn too_many_changed_files_run() {
        let paths: Vec<String> = (0..=MAX_CHANGED_FILES).map(|i| format!("{i}.md")).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        runs(
            &request(&paths),
            "1001 changed files are more than the 1000",
        );
        reuses(&request(&paths[1..]));
    }

    #[test]
    fn one_relevant_file_among_documentation_runs() {
        let r = request(&["README.md", "src/app.py", "CHANGELOG.md"]);
        runs(&r, "src/app.py is a python source file");
    }

    #[test]
    fn paths_ignore_of_a_python_file_without_build_reuses() {
        let mut r = request(&["tests/test_app.py", "README.md"]);
        r.paths_ignore = strings(&["tests/**"]);
        let plan = reuses(&r);
        let expected = "tests/test_app.py (excluded by paths-ignore entry \"tests/**\")";
        assert!(plan.reason.contains(expected), "{}", plan.reason);
    }

    #[test]
    fn paths_ignore_of_a_java_file_with_autobuild_runs() {
        let mut r = request(&["src/test/java/AppTest.java"]);
        r.languages = strings(&["java"]);
        r.candidate.as_mut().unwrap().languages = strings(&["java-kotlin"]);
        r.build_mode = "autobuild".to_string();
        r.paths_ignore = strings(&["src/test"]);
        runs(&r, "path filters do not limit the traced java-kotlin build");
    }

    #[test]
    fn invalid_glob_runs() {
        let mut r = request(&["README.md"]);
        r.paths_ignore = strings(&["src/**.py"]);
        runs(&r, "invalid paths-ignore entry \"src/**.py\"");
    }
}
