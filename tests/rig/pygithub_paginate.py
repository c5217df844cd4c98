"""Pages through the recorded paginate-issues issues with PyGithub, against the base URL given as
the only argument (the ghmesh proxy in the system tests). Prints `[{"number", "title"}, ...]`.

PyGithub's own requests, unchanged: `Accept: */*`, `Authorization: token ...`, `per_page` from the
client, then every page from the `link` header's `next`.

Usage: python pygithub_paginate.py BASE_URL
"""

import json
import sys

from github import Auth, Github

TOKEN = "0000000000000000000000000000000000000001"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python pygithub_paginate.py BASE_URL")
    github = Github(
        auth=Auth.Token(TOKEN),
        base_url=sys.argv[1],
        per_page=3,
        # A failure must surface, not be retried into the next recorded response.
        retry=None,
        seconds_between_requests=None,
        # No GET /repos/OWNER/REPO (the scenario did not record one); issues come from the list.
        lazy=True,
    )
    repo = github.get_repo("octokit-fixture-org/paginate-issues")
    # Only attributes the list pages carry: `raw_data` would fetch each issue's own `url`.
    issues = [{"number": i.number, "title": i.title} for i in repo.get_issues()]
    print(json.dumps(issues))


if __name__ == "__main__":
    main()
