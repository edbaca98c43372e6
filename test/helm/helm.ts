// Shared by the chart tests: find helm and promtool, render the chart, list what a live scrape exposes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createMetrics } from '../../src/metrics.js';
import { localApp } from '../helpers/app.js';
import { findTool } from '../helpers/tools.js';

export type Obj = Record<string, any>;

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const chart = join(root, 'helm', 'credbroker');
export const NS = 'argocd';
export const RELEASE = 'cb';

export const helm = findTool('helm');
export const promtool = findTool('promtool');

export function tempDir (t: { teardown: (fn: () => void) => void }, prefix = 'credbroker-helm-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function runHelm (args: string[], values?: Obj, work = tmpdir()): { status: number | null, stdout: string, stderr: string } {
  const extra: string[] = [];
  let file: string | undefined;
  if (values !== undefined) {
    file = join(work, `values-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(values));
    extra.push('-f', file);
  }
  try {
    const r = spawnSync(helm as string, [...args, ...extra], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (file !== undefined) rmSync(file, { force: true });
  }
}

export function render (values: Obj = {}, chartDir = chart): Obj[] {
  const r = runHelm(['template', RELEASE, chartDir, '--namespace', NS], values);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(r.stdout)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const js = doc.toJS() as Obj | null;
    if (js !== null) out.push(js);
  }
  return out;
}

export const ofKind = (docs: Obj[], kind: string): Obj[] => docs.filter((d) => d.kind === kind);
export function one (docs: Obj[], kind: string, nameSuffix = ''): Obj {
  const found = ofKind(docs, kind).filter((d) => String(d.metadata.name).endsWith(nameSuffix));
  if (found.length !== 1) throw new Error(`expected one ${kind}${nameSuffix}, found ${found.length}`);
  return found[0] as Obj;
}

/**
 * Every sample name a live app's /metrics can carry: the families of its # TYPE lines, and
 * for histograms their _bucket, _sum and _count series.
 */
export async function exposedMetricNames (t: { teardown: (fn: () => unknown) => void }): Promise<Set<string>> {
  const { app } = await localApp(t, { build: { metrics: createMetrics() } });
  const res = await app.inject('/metrics');
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
  const names = new Set<string>();
  for (const m of res.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'topk', 'bottomk', 'quantile', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'rate', 'irate', 'increase', 'delta',
  'histogram_quantile', 'label_values', 'absent', 'clamp_min', 'clamp_max', 'vector', 'time', 'inf', 'nan'
]);

/**
 * The metric names a PromQL (or Grafana) expression reads: every selector's name, plus any
 * other bare identifier that is not a PromQL word (so a name written without braces is seen too).
 */
export function metricNames (expr: string): string[] {
  // Grafana's label_values(metric, label): the second argument is a label name
  let e = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/label_values\(([^,)]*),\s*\w+\s*\)/g, 'label_values($1)');
  const names = [...e.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{/g)].map((m) => m[1] as string);
  e = e.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?[a-zA-Z_]+\}?/g, ' ');
  for (const m of e.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const word = m[1] as string;
    if (m[2] !== undefined || PROMQL_WORDS.has(word.toLowerCase()) || /^\d/.test(word)) continue;
    if (/^[0-9.e+-]+$/i.test(word)) continue;
    names.push(word);
  }
  return names;
}
