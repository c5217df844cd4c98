//! What a write makes out of date: the resource and everything below it, the collection that
//! lists it, the repository it belongs to, and a few known side effects (dispatching a workflow
//! creates a run, deleting a repository shortens every list that held it).

use crate::api::{Invalidation, Response};
use crate::path::ApiPath;

/// Parents that are the API root or a namespace, not a collection the write changes.
const NAMESPACE_PARENTS: &[&str] = &["/", "/repos", "/repos/*", "/orgs", "/users", "/enterprises"];

/// Entries a completed write to `response.path` invalidates. A write GitHub refused (4xx) changed
/// nothing; a 5xx may have been applied before the failure, so it invalidates like a success.
pub fn for_write(response: &Response) -> Vec<Invalidation> {
    if (400..500).contains(&response.status) {
        return Vec::new();
    }
    let Some(path) = ApiPath::parse(&response.path) else {
        return Vec::new();
    };
    let mut list = List::default();
    list.add(path.clone(), true);
    if let Some(parent) = path.parent().filter(|p| !p.matches_any(NAMESPACE_PARENTS)) {
        list.add(parent, false);
    }
    if let Some(root) = path.repo_root() {
        side_effects(&path, &root, &mut list);
        list.add(root, false);
    }
    list.finish()
}

/// Invalidations beyond the path, its parent and its repository.
fn side_effects(path: &ApiPath, root: &ApiPath, list: &mut List) {
    let owner = &path.segments()[1];
    let under_root = |rest: &str| ApiPath::parse(&format!("{root}/{rest}")).expect("well-formed");
    if path.segments().len() == 3 || path.matches("/repos/*/*/transfer") {
        // The repository itself changed (renamed, archived, deleted, moved): every list that
        // holds it is out of date.
        let lists = [
            "/user/repos".to_owned(),
            format!("/orgs/{owner}/repos"),
            format!("/users/{owner}/repos"),
            "/installation/repositories".to_owned(),
        ];
        for list_path in &lists {
            list.add(ApiPath::parse(list_path).expect("well-formed"), false);
        }
    }
    if path.matches("/repos/*/*/actions/workflows/*/dispatches") {
        // A dispatch creates a run; the workflow may be cached under its id or its file name.
        list.add(under_root("actions/runs"), true);
        list.add(under_root("actions/workflows"), true);
    }
    if path.matches("/repos/*/*/actions/runs/*/**") && path.segments().len() > 6 {
        // Cancelling, re-running or approving changes the run, its jobs and the runs list.
        list.add(path.prefix(6), true);
        list.add(under_root("actions/runs"), false);
    }
    if path.matches("/repos/*/*/actions/jobs/*/**") && path.segments().len() > 6 {
        list.add(path.prefix(6), true);
        list.add(under_root("actions/runs"), false);
    }
}

/// An ordered invalidation list without duplicates or entries another one already covers.
#[derive(Default)]
struct List(Vec<(ApiPath, bool)>);

impl List {
    fn add(&mut self, path: ApiPath, include_descendants: bool) {
        self.0.push((path, include_descendants));
    }

    fn finish(self) -> Vec<Invalidation> {
        let all = &self.0;
        let covered = |index: usize, (path, descendants): &(ApiPath, bool)| {
            all.iter()
                .enumerate()
                .any(|(other_index, (other, other_descendants))| {
                    let same = other == path;
                    let wider =
                        *other_descendants && path.starts_with(other) && (!same || !descendants);
                    wider || (same && *other_descendants == *descendants && other_index < index)
                })
        };
        all.iter()
            .enumerate()
            .filter(|&(index, entry)| !covered(index, entry))
            .map(|(_, (path, include_descendants))| Invalidation {
                path: path.to_string(),
                include_descendants: *include_descendants,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalidated(method: &str, path: &str, status: u16) -> Vec<(String, bool)> {
        let response = Response {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            status,
            headers: Vec::new(),
        };
        for_write(&response)
            .into_iter()
            .map(|i| (i.path, i.include_descendants))
            .collect()
    }

    fn expect(list: &[(&str, bool)]) -> Vec<(String, bool)> {
        list.iter()
            .map(|(path, descendants)| ((*path).to_owned(), *descendants))
            .collect()
    }

    #[test]
    fn updating_an_issue() {
        assert_eq!(
            invalidated("PATCH", "/repos/o/r/issues/5", 200),
            expect(&[
                ("/repos/o/r/issues/5", true),
                ("/repos/o/r/issues", false),
                ("/repos/o/r", false)
            ])
        );
    }

    #[test]
    fn creating_an_issue() {
        assert_eq!(
            invalidated("POST", "/repos/o/r/issues", 201),
            expect(&[("/repos/o/r/issues", true), ("/repos/o/r", false)])
        );
    }

    #[test]
    fn deleting_a_repository() {
        assert_eq!(
            invalidated("DELETE", "/repos/o/r", 204),
            expect(&[
                ("/repos/o/r", true),
                ("/user/repos", false),
                ("/orgs/o/repos", false),
                ("/users/o/repos", false),
                ("/installation/repositories", false),
            ])
        );
    }

    #[test]
    fn transferring_a_repository_updates_the_lists() {
        let list = invalidated("POST", "/repos/o/r/transfer", 202);
        assert!(
            list.contains(&("/orgs/o/repos".to_owned(), false)),
            "{list:?}"
        );
        assert!(list.contains(&("/repos/o/r".to_owned(), false)), "{list:?}");
    }

    #[test]
    fn dispatching_a_workflow_invalidates_the_runs() {
        assert_eq!(
            invalidated(
                "POST",
                "/repos/o/r/actions/workflows/ci.yml/dispatches",
                204
            ),
            expect(&[
                ("/repos/o/r/actions/runs", true),
                ("/repos/o/r/actions/workflows", true),
                ("/repos/o/r", false),
            ])
        );
    }

    #[test]
    fn cancelling_or_rerunning_a_run() {
        for action in ["cancel", "force-cancel", "rerun", "rerun-failed-jobs"] {
            assert_eq!(
                invalidated("POST", &format!("/repos/o/r/actions/runs/7/{action}"), 202),
                expect(&[
                    ("/repos/o/r/actions/runs/7", true),
                    ("/repos/o/r/actions/runs", false),
                    ("/repos/o/r", false)
                ]),
                "{action}"
            );
        }
    }

    #[test]
    fn rerunning_a_job() {
        assert_eq!(
            invalidated("POST", "/repos/o/r/actions/jobs/9/rerun", 201),
            expect(&[
                ("/repos/o/r/actions/jobs/9", true),
                ("/repos/o/r/actions/runs", false),
                ("/repos/o/r", false)
            ])
        );
    }

    #[test]
    fn deleting_a_run() {
        assert_eq!(
            invalidated("DELETE", "/repos/o/r/actions/runs/7", 204),
            expect(&[
                ("/repos/o/r/actions/runs/7", true),
                ("/repos/o/r/actions/runs", false),
                ("/repos/o/r", false)
            ])
        );
    }

    #[test]
    fn names_are_lower_cased_and_trailing_slashes_dropped() {
        assert_eq!(
            invalidated("PATCH", "/repos/Octo/Hello/issues/5/", 200),
            expect(&[
                ("/repos/octo/hello/issues/5", true),
                ("/repos/octo/hello/issues", false),
                ("/repos/octo/hello", false)
            ])
        );
    }

    #[test]
    fn writes_outside_repositories() {
        assert_eq!(
            invalidated("PATCH", "/user", 200),
            expect(&[("/user", true)])
        );
        assert_eq!(
            invalidated("POST", "/user/repos", 201),
            expect(&[("/user/repos", true), ("/user", false)])
        );
        assert_eq!(
            invalidated("PATCH", "/orgs/O", 200),
            expect(&[("/orgs/o", true)])
        );
        assert_eq!(
            invalidated("DELETE", "/gists/abc", 204),
            expect(&[("/gists/abc", true), ("/gists", false)])
        );
    }

    #[test]
    fn refused_writes_invalidate_nothing() {
        for status in [400, 401, 403, 404, 409, 422, 429] {
            assert!(
                invalidated("PATCH", "/repos/o/r/issues/5", status).is_empty(),
                "{status}"
            );
        }
    }

    #[test]
    fn writes_that_failed_upstream_may_have_happened() {
        assert_eq!(invalidated("PATCH", "/repos/o/r/issues/5", 502).len(), 3);
    }

    #[test]
    fn malformed_paths_invalidate_nothing() {
        assert!(invalidated("POST", "/repos//r", 200).is_empty());
    }
}
