//! Whether one changed file could change a scan's result, judged against the analysed languages,
//! the build mode and the configuration's path filters.

use std::collections::BTreeSet;
use std::fmt;

use crate::bindings::exports::ghmesh::policy::codeql::{ChangeKind, ChangedFile};
use crate::files::{self, Role};
use crate::filters::{Exclusion, PathFilters};
use crate::languages::Language;

/// Why a path cannot change the scan. Kept unformatted so a large change set only pays for the
/// few reasons that are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irrelevant<'a> {
    /// Documentation or an asset.
    NonCode,
    /// Left out by the configuration's path filters.
    Excluded(Exclusion<'a>),
}

impl fmt::Display for Irrelevant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Irrelevant::NonCode => Role::NonCode.fmt(f),
            Irrelevant::Excluded(exclusion) => exclusion.fmt(f),
        }
    }
}

/// The parts of a scan's configuration that decide which files matter.
pub struct Relevance {
    languages: BTreeSet<Language>,
    filters: PathFilters,
    /// A compiled language extracted from a traced build: the build, not the path filters,
    /// decides what is compiled, and any file may be one of its inputs (code generators,
    /// resources), so path filters cannot prove a file irrelevant.
    traced: Option<Language>,
}

impl Relevance {
    /// Fails when the build mode or a path filter is not understood.
    pub fn new(
        languages: BTreeSet<Language>,
        build_mode: &str,
        paths: &[String],
        paths_ignore: &[String],
    ) -> Result<Self, String> {
        let traced = match build_mode {
            "none" => None,
            "" | "autobuild" | "manual" => languages.iter().copied().find(|l| l.is_compiled()),
            other => return Err(format!("unknown build mode {other:?}")),
        };
        let filters = PathFilters::new(paths, paths_ignore)?;
        Ok(Relevance {
            languages,
            filters,
            traced,
        })
    }

    /// Why each path the change touches does not matter, or the reason to run.
    pub fn check<'a>(
        &'a self,
        change: &'a ChangedFile,
    ) -> Result<Vec<(&'a str, Irrelevant<'a>)>, String> {
        changed_paths(change)?
            .into_iter()
            .map(|path| Ok((path, self.irrelevance(path)?)))
            .collect()
    }

    fn irrelevance(&self, path: &str) -> Result<Irrelevant<'_>, String> {
        let role = files::classify(path, &self.languages);
        let relevant = || format!("{path} is {role}");
        match role {
            Role::NonCode => return Ok(Irrelevant::NonCode),
            Role::CodeqlConfig | Role::Workflow | Role::Build(_) => return Err(relevant()),
            Role::Source(_) | Role::Unknown => {}
        }
        let Some(exclusion) = self.filters.exclusion(path) else {
            return Err(relevant());
        };
        if let Some(language) = self.traced {
            return Err(format!(
                "{path} is {exclusion}; path filters do not limit the traced {language} build"
            ));
        }
        Ok(Irrelevant::Excluded(exclusion))
    }
}

/// Every path a change touches; kinds whose effect on the checkout is unclear are refused.
fn changed_paths(change: &ChangedFile) -> Result<Vec<&str>, String> {
    let path = change.path.as_str();
    match change.kind {
        ChangeKind::Submodule => return Err(format!("{path} is a submodule change")),
        ChangeKind::TypeChanged => return Err(format!("{path} changed type")),
        ChangeKind::Renamed if change.previous_path.is_none() => {
            return Err(format!("{path} was renamed from an unknown path"));
        }
        _ => {}
    }
    let paths: Vec<&str> = std::iter::once(path)
        .chain(change.previous_path.as_deref())
        .collect();
    for path in &paths {
        files::check_path(path)?;
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::languages;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn relevance(
        languages: &[&str],
        build_mode: &str,
        paths: &[&str],
        ignore: &[&str],
    ) -> Result<Relevance, String> {
        let languages = languages::parse_set(&strings(languages)).expect("known languages");
        Relevance::new(languages, build_mode, &strings(paths), &strings(ignore))
    }

    fn python() -> Relevance {
        relevance(&["python"], "none", &[], &[]).unwrap()
    }

    fn change(path: &str, kind: ChangeKind) -> ChangedFile {
        ChangedFile {
            path: path.to_string(),
            previous_path: None,
            kind,
        }
    }

    fn modified(path: &str) -> ChangedFile {
        change(path, ChangeKind::Modified)
    }

    fn renamed(from: &str, to: &str) -> ChangedFile {
        ChangedFile {
            previous_path: Some(from.to_string()),
            ..change(to, ChangeKind::Renamed)
        }
    }

    #[track_caller]
    fn relevant(r: &Relevance, change: ChangedFile, expected: &str) {
        match r.check(&change) {
            Err(reason) => assert!(reason.contains(expected), "{reason:?} lacks {expected:?}"),
            Ok(notes) => panic!("expected relevant, got {notes:?}"),
        }
    }

    #[track_caller]
    fn irrelevant(r: &Relevance, change: ChangedFile) -> String {
        let notes = r.check(&change).expect("irrelevant change");
        let notes: Vec<String> = notes
            .iter()
            .map(|(p, why)| format!("{p} ({why})"))
            .collect();
        notes.join(", ")
    }

    #[test]
    fn documentation_is_irrelevant() {
        let note = irrelevant(&python(), change("docs/img/arch.png", ChangeKind::Added));
        assert_eq!(note, "docs/img/arch.png (documentation or an asset)");
        irrelevant(&python(), change("CHANGELOG.md", ChangeKind::Deleted));
    }

    #[test]
    fn sources_of_analysed_languages_are_relevant() {
        relevant(
            &python(),
            modified("src/app.py"),
            "src/app.py is a python source file",
        );
        relevant(
            &python(),
            modified("docs/conf.py"),
            "docs/conf.py is a python source file",
        );
    }

    #[test]
    fn build_and_lock_files_are_relevant() {
        relevant(
            &python(),
            modified("pyproject.toml"),
            "pyproject.toml is a python build",
        );
        relevant(
            &python(),
            modified("poetry.lock"),
            "poetry.lock is a python build",
        );
        let java = relevance(&["java"], "autobuild", &[], &[]).unwrap();
        relevant(&java, modified("pom.xml"), "pom.xml is a java-kotlin build");
        let go = relevance(&["go"], "autobuild", &[], &[]).unwrap();
        relevant(&go, modified("ci/build.sh"), "ci/build.sh is a go build");
        let js = relevance(&["typescript"], "none", &[], &[]).unwrap();
        relevant(
            &js,
            modified("yarn.lock"),
            "yarn.lock is a javascript-typescript build",
        );
    }

    #[test]
    fn codeql_configuration_and_queries_are_relevant() {
        let config = ".github/codeql/codeql-config.yml is a CodeQL configuration";
        relevant(
            &python(),
            modified(".github/codeql/codeql-config.yml"),
            config,
        );
        relevant(
            &python(),
            modified("queries/Custom.ql"),
            "Custom.ql is a CodeQL",
        );
    }

    #[test]
    fn workflows_are_relevant() {
        let expected = "may change how CodeQL runs";
        relevant(&python(), modified(".github/workflows/build.yml"), expected);
        relevant(
            &python(),
            modified(".github/workflows/codeql.yml"),
            "codeql.yml is a",
        );
    }

    #[test]
    fn unknown_extensions_are_relevant() {
        let expected = "data/schema.proto is not a known documentation or asset file";
        relevant(&python(), modified("data/schema.proto"), expected);
    }

    #[test]
    fn submodule_and_type_changes_are_relevant() {
        relevant(
            &python(),
            change("vendor/lib", ChangeKind::Submodule),
            "submodule",
        );
        relevant(
            &python(),
            change("README.md", ChangeKind::TypeChanged),
            "changed type",
        );
    }

    #[test]
    fn renames_check_both_paths() {
        let expected = "src/app.py is a python";
        relevant(&python(), renamed("src/app.py", "docs/app.md"), expected);
        relevant(&python(), renamed("docs/app.md", "src/app.py"), expected);
        let note = irrelevant(&python(), renamed("docs/old.md", "docs/new.md"));
        assert!(
            note.contains("docs/new.md") && note.contains("docs/old.md"),
            "{note}"
        );
        let mut lost = renamed("a.md", "b.md");
        lost.previous_path = None;
        relevant(&python(), lost, "renamed from an unknown path");
    }

    #[test]
    fn odd_paths_are_relevant() {
        relevant(
            &python(),
            modified("docs/../src/app.py"),
            "not a normalised",
        );
    }

    #[test]
    fn paths_ignore_excludes_interpreted_sources() {
        let r = relevance(&["python"], "none", &[], &["tests"]).unwrap();
        let note = irrelevant(&r, modified("tests/test_app.py"));
        assert_eq!(
            note,
            "tests/test_app.py (excluded by paths-ignore entry \"tests\")"
        );
    }

    #[test]
    fn paths_exclude_what_they_do_not_list() {
        let r = relevance(&["python"], "", &["src/**"], &[]).unwrap();
        let note = irrelevant(&r, modified("scripts/tool.py"));
        assert!(note.contains("outside the configured paths"), "{note}");
        relevant(
            &r,
            modified("src/pkg/app.py"),
            "src/pkg/app.py is a python source file",
        );
    }

    #[test]
    fn path_filters_do_not_exclude_build_or_codeql_files() {
        let r = relevance(&["python"], "none", &[], &["tools"]).unwrap();
        relevant(&r, modified("tools/requirements.txt"), "python build");
        relevant(&r, modified("tools/codeql.yml"), "CodeQL configuration");
    }

    #[test]
    fn traced_builds_ignore_path_filters() {
        let change = || modified("src/test/java/AppTest.java");
        let expected = "path filters do not limit the traced java-kotlin build";
        for mode in ["autobuild", "manual", ""] {
            let r = relevance(&["java"], mode, &[], &["src/test"]).unwrap();
            relevant(&r, change(), expected);
        }
        // Nor generated-code inputs of another type, which the build may still read.
        let r = relevance(&["python", "c-cpp"], "autobuild", &[], &["proto"]).unwrap();
        relevant(&r, modified("proto/api.py"), "traced c-cpp build");
        let r = relevance(&["java"], "none", &[], &["src/test"]).unwrap();
        irrelevant(&r, change());
    }

    #[test]
    fn traced_builds_still_ignore_documentation() {
        let r = relevance(&["c-cpp"], "manual", &[], &[]).unwrap();
        irrelevant(&r, modified("docs/building.md"));
    }

    #[test]
    fn unknown_build_mode_and_invalid_globs_are_errors() {
        let error = relevance(&["java"], "magic", &[], &[]).err();
        assert_eq!(error.as_deref(), Some("unknown build mode \"magic\""));
        let error = relevance(&["python"], "none", &[], &["src/**.py"])
            .err()
            .unwrap();
        assert!(
            error.contains("invalid paths-ignore entry \"src/**.py\""),
            "{error}"
        );
    }
}
