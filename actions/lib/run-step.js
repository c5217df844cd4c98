// Runs one of the actions' bash steps (actions/lib/*.sh) from a JavaScript action.
//
// Why JavaScript: the runner hands ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN (GitHub's
// Actions cache service) to JavaScript actions only, never to composite `run` steps, and
// `ghmesh serve` needs them to meet the fleet through the Actions cache (docs/mesh.md,
// "Discovery through the Actions cache"). They go to the bash step, and through it to the serve
// it starts, and nowhere else: nothing is written to GITHUB_ENV.
//
// The runner passes inputs as INPUT_<NAME> with the input's hyphens kept (INPUT_GITHUB-TOKEN);
// the bash steps read INPUT_GITHUB_TOKEN.
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');

/** Runs actions/lib/<script> with the inputs renamed; exits with its status. */
function runStep(script) {
  const env = { ...process.env };
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('INPUT_')) {
      env[name.replace(/[- ]/g, '_')] = value;
    }
  }
  env.GHMESH_ACTION_REPOSITORY = process.env.GITHUB_ACTION_REPOSITORY || '';
  const token = process.env.ACTIONS_RUNTIME_TOKEN;
  if (token) {
    process.stdout.write(`::add-mask::${token}\n`);
  }
  const result = spawnSync('bash', [path.join(__dirname, script)], { stdio: 'inherit', env });
  if (result.error) {
    process.stdout.write(`::error title=ghmesh::cannot run ${script}: ${result.error.message}\n`);
    process.exit(1);
  }
  process.exit(result.status === null ? 1 : result.status);
}

module.exports = { runStep };
