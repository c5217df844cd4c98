// Drives the real @actions/cache client (its v2 path: Twirp CacheService + Azure SDK upload)
// against the cache service in ACTIONS_RESULTS_URL, from the working directory. Prints one JSON
// line: what save, a second save of the same key, a restore by prefix and a miss returned.
// Used by tests/system/mesh_registry.rs to hold tests/src/actions_cache_server.rs to the client.
import * as cache from '@actions/cache';
import fs from 'fs';

const content = `written by @actions/cache ${process.argv[2] ?? ''}`;
fs.mkdirSync('data', { recursive: true });
fs.writeFileSync('data/file.txt', content);
const saved = await cache.saveCache(['data'], 'interop-key-1');
const savedAgain = await cache.saveCache(['data'], 'interop-key-1');
fs.rmSync('data', { recursive: true });
const restored = await cache.restoreCache(['data'], 'missing-key', ['interop-key']);
const restoredContent = fs.existsSync('data/file.txt') ? fs.readFileSync('data/file.txt', 'utf8') : null;
const miss = await cache.restoreCache(['data'], 'other', ['nothing-']);
console.log(JSON.stringify({
  saved,
  saved_again: savedAgain,
  restored: restored ?? null,
  content_ok: restoredContent === content,
  miss: miss ?? null,
}));
