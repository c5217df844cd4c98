// The setup-github-cache action (also the repository's root action): starts `ghmesh serve`
// through actions/lib/setup-github-cache.sh, with the Actions cache service's variables.
'use strict';

require('../lib/run-step.js').runStep('setup-github-cache.sh');
