import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { lookupToken, openTokensFile, parseTokens } from '../../src/config/tokens.js';
import { ConfigError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { eventually } from '../helpers/poll.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const CI_TOKEN = 'ci-token-3f9a8b7c6d5e4f3a2b1c';
const OPS_TOKEN = 'ops-token-0a1b2c3d4e5f6a7b8c9d';


t.test('lookup by SHA-256', async (t) => {
  const tokens = parseTokens(`tokens:\n  - name: ci\n    sha256: ${sha(CI_TOKEN)}\n  - name: ops\n    sha256: ${sha(OPS_TOKEN).toUpperCase()}\n`);
  t.equal(lookupToken(tokens, CI_TOKEN), 'ci');
  t.equal(lookupToken(tokens, OPS_TOKEN), 'ops', 'upper-case hex accepted');
  t.equal(lookupToken(tokens, 'nope'), undefined);
  t.equal(lookupToken(tokens, sha(CI_TOKEN)), undefined, 'the digest itself is not a token');
  t.equal(lookupToken(tokens, ''), undefined);
  t.equal(lookupToken(parseTokens('tokens: []\n'), CI_TOKEN), undefined);
});

t.test('strict validation', async (t) => {
  const digest = sha(CI_TOKEN);
  const bad: Array<[string, RegExp]> = [
    [`tokens:\n  - name: ci\n    sha256: ${digest}\n    role: admin\n`, /tokens\[0\]\.role: unknown key/],
    [`tokens:\n  - name: ci\n    sha256: ${digest.slice(1)}\n`, /tokens\[0\]\.sha256: must be the 64 hex digits/],
    [`tokens:\n  - name: ci\n    sha256: ${'z'.repeat(64)}\n`, /tokens\[0\]\.sha256/],
    [`tokens:\n  - name: ci\n`, /tokens\[0\]\.sha256/],
    [`tokens:\n  - sha256: ${digest}\n`, /tokens\[0\]\.name/],
    [`tokens:\n  - name: "a b"\n    sha256: ${digest}\n`, /tokens\[0\]\.name/],
    [`tokens:\n  - name: ci\n    sha256: ${digest}\n  - name: ci\n    sha256: ${sha(OPS_TOKEN)}\n`, /tokens\[1\]\.name: "ci" appears twice/],
    [`tokens:\n  - name: ci\n    sha256: ${digest}\n  - name: ops\n    sha256: ${digest}\n`, /tokens\[1\]\.sha256: the same token is listed twice/],
    ['tokens: {}\n', /tokens: must be a list/],
    ['users: []\n', /users: unknown key/],
    ['', /is empty/],
    ['tokens: [\n', /not valid YAML/]
  ];
  for (const [text, re] of bad) {
    t.throws(() => parseTokens(text), re, re.source);
    t.throws(() => parseTokens(text), ConfigError);
    try { parseTokens(text); } catch (err) {
      t.notMatch((err as Error).message, digest, 'a digest is never quoted');
    }
  }
});

t.test('token file reload keeps the last good version', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'tokens.yaml');
  writeFileSync(path, `tokens:\n  - name: ci\n    sha256: ${sha(CI_TOKEN)}\n`);
  const metrics = createMetrics({ defaultMetrics: false });
  const file = openTokensFile(path, { metrics, intervalMs: 20, debounceMs: 10 });
  t.teardown(() => file.close());
  t.equal(lookupToken(file.current(), CI_TOKEN), 'ci');
  t.equal(lookupToken(file.current(), OPS_TOKEN), undefined);

  writeFileSync(path, `tokens:\n  - name: ops\n    sha256: ${sha(OPS_TOKEN)}\n`);
  await eventually(() => lookupToken(file.current(), OPS_TOKEN) === 'ops');
  t.equal(lookupToken(file.current(), OPS_TOKEN), 'ops', 'new token known');
  t.equal(lookupToken(file.current(), CI_TOKEN), undefined, 'removed token refused');

  writeFileSync(path, 'tokens:\n  - name: ops\n    sha256: nothex\n');
  await eventually(() => file.lastResult()?.result === 'failure');
  t.equal(file.lastResult()?.result, 'failure');
  t.equal(lookupToken(file.current(), OPS_TOKEN), 'ops', 'last good version kept');
  t.match(await metrics.registry.metrics(), /credbroker_config_reloads_total\{file="tokens",result="failure"\} [1-9]/);
});
