// The Dockerfile and .dockerignore, read as files (the entrypoint is run in entrypoint.test.ts).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Stage { from: string, name?: string, lines: string[] }

/** Instructions (continuations joined, comments dropped) grouped by FROM. */
function stages (text: string): Stage[] {
  const joined = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const out: Stage[] = [];
  for (const line of joined) {
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from !== null) {
      out.push({ from: from[1] as string, name: from[2], lines: [] });
    } else if (out.length > 0) {
      (out[out.length - 1] as Stage).lines.push(line);
    }
  }
  return out;
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const all = stages(dockerfile);
const final = all[all.length - 1] as Stage;
const instr = (s: Stage, word: string): string[] => s.lines.filter((l) => new RegExp(`^${word}\\s`, 'i').test(l));
const runs = (s: Stage): string => instr(s, 'RUN').join('\n');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

t.test('multi-stage: a build stage with dev dependencies runs the build', async (t) => {
  t.ok(all.length >= 2, 'more than one stage');
  const build = all.slice(0, -1).find((s) => /npm run build/.test(runs(s)));
  t.ok(build, 'a stage before the last runs npm run build');
  if (build !== undefined) {
    t.match(runs(build), /npm ci(?![^\n]*--omit=dev)/, 'the build stage installs dev dependencies with npm ci');
  }
});

t.test('the final stage runs node dist/main.js as a numeric non-root user', async (t) => {
  const users = instr(final, 'USER');
  t.equal(users.length, 1, 'one USER in the final stage');
  const user = (users[0] ?? '').replace(/^USER\s+/i, '');
  t.match(user, /^\d+(:\d+)?$/, 'numeric uid (runAsNonRoot can verify it)');
  t.not(Number(user.split(':')[0]), 0, 'not root');
  const cmds = instr(final, 'CMD');
  t.same(cmds.map((c) => JSON.parse(c.replace(/^CMD\s+/i, '')) as unknown), [['node', 'dist/main.js']]);
  t.match(final.from, /^(\$\{NODE_IMAGE\}|node:\d+[-.\w]*slim)/, 'a slim Node image');
  const arg = /^ARG\s+NODE_IMAGE=(\S+)/m.exec(dockerfile);
  const image = final.from.startsWith('${') ? arg?.[1] : final.from;
  t.match(image, /^node:\d+[-.\w]*-slim$/, 'a slim Node image');
  // the image's Node major is the one CI also runs the HTTP, process and end-to-end tests on
  const major = Number(/^node:(\d+)/.exec(image ?? '')?.[1]);
  const ci = Number(/^NODE_LTS_MAJOR=(\d+)$/m.exec(readFileSync(join(root, '.ci', 'run'), 'utf8'))?.[1]);
  t.equal(major, ci, `.ci/run tests on the image's Node major (${major})`);
  t.ok(major >= 26 && major % 2 === 0, 'an LTS line no older than the Active LTS of late 2026 (Node 26)');
  const last = final.lines.findIndex((l) => /^USER\s/i.test(l));
  t.notOk(final.lines.slice(last + 1).some((l) => /^RUN\s/i.test(l)), 'nothing runs after dropping root');
});

t.test('the final stage has no dev dependencies, compilers or git', async (t) => {
  const r = runs(final);
  t.notMatch(r, /npm (ci|install|i)\b(?![^\n]*--omit=dev)/, 'no npm install with dev dependencies');
  t.notMatch(r, /\b(build-essential|gcc|g\+\+|make|python3?|git)\b/, 'no build tools installed');
  t.notMatch(r, /npm run build|\btsc\b/, 'nothing is compiled in the final stage');
  const copies = instr(final, 'COPY');
  const modules = copies.filter((c) => /node_modules/.test(c));
  t.equal(modules.length, 1, 'node_modules come from one place');
  const from = /--from=(\S+)/.exec(modules[0] ?? '')?.[1];
  const source = all.find((s) => s.name === from);
  t.ok(source, 'copied from an earlier stage');
  if (source !== undefined) t.match(runs(source), /npm ci[^\n]*--omit=dev/, 'that stage installs production dependencies only');
  t.notOk(copies.some((c) => /(^COPY|\s)(\.|\.\/)\s+\S+$/.test(c) && !/--from=/.test(c)), 'the final stage does not copy the whole context');
  for (const dev of Object.keys(pkg.devDependencies)) {
    t.notOk(final.lines.some((l) => l.includes(` ${dev}`) && /npm/.test(l)), `${dev} is not installed`);
  }
  t.ok(copies.some((c) => /--from=/.test(c) && /\sdist\/?$|\/dist\s/.test(c)), 'dist is copied from the build stage');
});

t.test('.dockerignore keeps node_modules, tests, build output and .git out', async (t) => {
  const entries = readFileSync(join(root, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const e of ['node_modules', 'test', '.git', 'dist', 'coverage', '.tap']) {
    t.ok(entries.some((x) => x === e || x === `${e}/` || x === `/${e}`), `${e} is ignored`);
  }
  t.notOk(entries.some((x) => x.startsWith('!') && /node_modules|test|\.git|dist/.test(x)), 'nothing re-includes them');
  for (const needed of ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
    t.notOk(entries.includes(needed), `${needed} stays in the context`);
  }
});

t.test('the service runs with a bounded young generation (NODE_OPTIONS), which npm run bench uses too', async (t) => {
  const env = instr(final, 'ENV').join(' ');
  const nodeOptions = /\bNODE_OPTIONS=("[^"]*"|\S+)/.exec(env)?.[1]?.replace(/^"|"$/g, '');
  t.match(nodeOptions, /--max-semi-space-size=\d+/, 'the final stage sets NODE_OPTIONS=--max-semi-space-size=…');
  t.match(readFileSync(join(root, 'bench', 'run.js'), 'utf8'), /imageNodeOptions\(\)/, 'the bench starts the service with the image\'s NODE_OPTIONS');
  // a process under those options keeps its new space at two semi-spaces of that size, however much it allocates
  const { execFileSync } = await import('node:child_process');
  const probe = 'const k=[];for(let i=0;i<2e6;i++){const o={i,s:String(i)};if(i%5000===0)k.push(o)};const v=require("v8");process.stdout.write(String(v.getHeapSpaceStatistics().find(s=>s.space_name==="new_space").space_size))';
  const mb = (opts: string | undefined): number => Number(execFileSync(process.execPath, ['-e', probe], { env: { ...process.env, NODE_OPTIONS: opts ?? '' }, encoding: 'utf8' })) / 1048576;
  const semi = Number(/--max-semi-space-size=(\d+)/.exec(nodeOptions ?? '')?.[1]);
  const bounded = mb(nodeOptions);
  t.ok(bounded <= 2 * semi, `new space ${bounded} MB ≤ 2 × ${semi} MB under the image's options`);
  t.ok(mb(undefined) > 2 * semi, 'and larger without them (the option is what bounds it)');
});
