// Every relative link of README.md and docs/*.md points at a file of the repository, and every
// #anchor at a heading of the file it names (GitHub's heading ids), so moving a section breaks a test.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The text outside fenced code blocks and inline code spans, where links are links. */
function prose (text: string): string {
  return text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, '');
}

/** The heading ids GitHub gives a Markdown file: lower case, punctuation dropped, spaces to -, repeats numbered. */
function anchors (text: string): Set<string> {
  const seen = new Map<string, number>();
  const ids = new Set<string>();
  const withoutCode = text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const m of withoutCode.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = (m[1] as string)
      .toLowerCase()
      .replace(/<[^>]*>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

/** The broken relative links of one Markdown file: a missing file, or an anchor no heading has. */
function brokenLinks (file: string, text: string, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string[] {
  const broken: string[] = [];
  for (const m of prose(text).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1] as string;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
    const hash = target.indexOf('#');
    const path = hash === -1 ? target : target.slice(0, hash);
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
    if (path !== '' && !existsSync(dest)) {
      broken.push(`${target}: no such file`);
      continue;
    }
    if (anchor !== undefined && anchor !== '' && dest.endsWith('.md') && (dest === file || statSync(dest).isFile())) {
      const ids = anchors(dest === file ? text : read(dest));
      if (!ids.has(anchor)) broken.push(`${target}: no heading with id ${anchor} in ${relative(root, dest)}`);
    }
  }
  return broken;
}

const files = [
  join(root, 'README.md'),
  ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))
];

t.test('every relative link in README.md and docs/*.md resolves', async (t) => {
  t.ok(files.length >= 5, 'the README and the docs are found');
  let links = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    links += [...prose(text).matchAll(/\]\((?!https?:)/g)].length;
    t.same(brokenLinks(file, text), [], `${relative(root, file)}: no broken link`);
  }
  t.ok(links > 20, `the links are seen (${links})`);
});

t.test('the check catches a missing file and a missing anchor, and ignores code', async (t) => {
  const file = join(root, 'docs', 'planted.md');
  const text = [
    '# Planted',
    '## Two words: `code`, here',
    '[ok](../README.md) [ok](#two-words-code-here) [ok](configuration.md#settings)',
    '[gone](no-such-file.md) [bad anchor](configuration.md#no-such-heading) [bad self](#planted-nope)',
    '`[in code](missing-in-code.md)`',
    '```',
    '[in a block](missing-in-block.md)',
    '```'
  ].join('\n');
  t.same(brokenLinks(file, text), [
    'no-such-file.md: no such file',
    'configuration.md#no-such-heading: no heading with id no-such-heading in docs/configuration.md',
    '#planted-nope: no heading with id planted-nope in docs/planted.md'
  ]);
  t.ok(anchors('# A\n# A\n## Cloud registries: `ecr:`, `gcp:`\n### RBAC (rbac.create=false)').has('a-1'), 'a repeated heading is numbered');
  t.same([...anchors('## Cloud registries: `ecr:`, `gcp:`\n### RBAC (rbac.create=false)')], ['cloud-registries-ecr-gcp', 'rbac-rbaccreatefalse']);
});
