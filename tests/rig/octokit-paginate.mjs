// Pages through the recorded paginate-issues scenario with @octokit/rest, against the base URL
// given as the only argument (the ghmesh proxy in the system tests). Prints the issues as JSON.
// Usage: node octokit-paginate.mjs BASE_URL
import { Octokit } from "@octokit/rest";

const [baseUrl] = process.argv.slice(2);
if (!baseUrl) {
  console.error("usage: node octokit-paginate.mjs BASE_URL");
  process.exit(2);
}
const octokit = new Octokit({
  baseUrl,
  // The fixture token and Accept header @octokit/fixtures-server insists on.
  auth: "0000000000000000000000000000000000000001",
  headers: { accept: "application/vnd.github.v3+json" },
});
const issues = await octokit.paginate("GET /repos/{owner}/{repo}/issues", {
  owner: "octokit-fixture-org",
  repo: "paginate-issues",
  per_page: 3,
});
console.log(JSON.stringify(issues));
