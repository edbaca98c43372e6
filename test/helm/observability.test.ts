// The chart's PrometheusRule and Grafana dashboard: checked by the real promtool (check rules, and a
// unit test of alerts firing) and against the metric names a live app exposes.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chart, helm, metricNames, NS, one, ofKind, promtool, render, RELEASE, tempDir, exposedMetricNames, type Obj } from './helm.js';
import { needTool, requireTool } from '../helpers/tools.js';

const JOB = `${RELEASE}-credbroker`;
const ALERTS = [
  'CredbrokerSecretStoreDisconnected', 'CredbrokerSecretStoreNotSynced', 'CredbrokerConfigReloadFailing',
  'CredbrokerCredentialFetchErrors', 'CredbrokerScriptTimeouts', 'CredbrokerDenialsSpike'
];

t.test('the metric-name reader sees selectors, bare names, and nothing of PromQL itself', async (t) => {
  t.same(metricNames('sum by (le, kind) (rate(credbroker_registry_request_duration_seconds_bucket{namespace="$namespace",job=~"$job"}[$__rate_interval]))'),
    ['credbroker_registry_request_duration_seconds_bucket']);
  t.same(metricNames('a_total{x="rate(b{})"} / ignoring(pod) bare_metric > 0.05'), ['a_total', 'bare_metric']);
  t.same(metricNames('max by (pod, version) (credbroker_build_info{namespace="$namespace"}) == 1 unless on(pod) up'), ['credbroker_build_info', 'up']);
  t.same(metricNames('label_values(credbroker_build_info{namespace="$namespace"}, job)'), ['credbroker_build_info'], 'Grafana\'s label_values names a label second');
});

if (needTool(t, 'helm') !== undefined) {
  t.test('alerts and dashboard', async (t) => {
    const exposed = await exposedMetricNames(t);
    t.ok(exposed.has('credbroker_build_info') && exposed.has('credbroker_registry_request_duration_seconds_bucket'), 'the scrape lists the families');
    const work = tempDir(t);

    await t.test('toggles: neither object by default', async (t) => {
      const docs = render();
      t.equal(ofKind(docs, 'PrometheusRule').length, 0);
      t.notOk(ofKind(docs, 'ConfigMap').some((c) => c.metadata.labels?.grafana_dashboard !== undefined), 'no dashboard ConfigMap');
    });

    const docs = render({ prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } }, grafanaDashboard: { enabled: true } });
    const rule = one(docs, 'PrometheusRule');
    const groups = rule.spec.groups as Obj[];
    const rules = groups.flatMap((g) => g.rules as Obj[]);

    await t.test('the PrometheusRule carries the six alerts, each documented and scoped to this release', async (t) => {
      t.equal(rule.metadata.namespace, NS);
      t.equal(rule.metadata.labels.release, 'kube-prometheus-stack', 'labels for the Prometheus rule selector');
      t.same(rules.map((r) => r.alert), ALERTS);
      for (const r of rules) {
        t.match(r.labels?.severity, /^(warning|critical)$/, `${r.alert as string} has a severity`);
        t.ok(r.annotations?.summary && r.annotations?.description, `${r.alert as string} has a summary and a description`);
        t.match(r.expr, `job="${JOB}",namespace="${NS}"`, `${r.alert as string} reads this release's series only`);
      }
      const readme = readFileSync(join(chart, 'README.md'), 'utf8');
      for (const a of ALERTS) t.match(readme, a, `the chart README lists ${a}`);
    });

    await t.test('every alert reads only metrics the service exposes', async (t) => {
      for (const r of rules) {
        const names = metricNames(r.expr as string);
        t.ok(names.length > 0, `${r.alert as string} reads a metric`);
        for (const n of names) t.ok(exposed.has(n), `${r.alert as string}: ${n} is exposed`);
      }
    });

    await t.test('promtool check rules accepts the rendered groups, and rejects a broken one', async (t) => {
      if (requireTool(t, 'promtool') === undefined || promtool === undefined) return;
      const file = join(work, 'rules.yaml');
      writeFileSync(file, stringify({ groups }));
      const ok = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
      t.equal(ok.status, 0, ok.stdout + ok.stderr);
      t.match(ok.stdout, `SUCCESS: ${ALERTS.length} rules found`);
      const bad = join(work, 'bad.yaml');
      writeFileSync(bad, stringify({ groups: [{ name: 'x', rules: [{ alert: 'Broken', expr: 'sum(rate(credbroker_x_total[5m]' }] }] }));
      t.not(spawnSync(promtool, ['check', 'rules', bad], { encoding: 'utf8', timeout: 30_000 }).status, 0, 'the check can fail');
    });

    await t.test('promtool test rules: alerts fire on the series that should fire them, and only those', async (t) => {
      if (requireTool(t, 'promtool') === undefined || promtool === undefined) return;
      writeFileSync(join(work, 'rules.yaml'), stringify({ groups }));
      const ours = `job="${JOB}",namespace="${NS}"`;
      const annotations = (alert: string, labels: Record<string, string>, value: string): Obj => {
        const a = (rules.find((r) => r.alert === alert) as Obj).annotations as Record<string, string>;
        const fill = (s: string): string => s.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, k: string) => labels[k] ?? '').replace(/\{\{ \$value \}\}/g, value);
        return { summary: fill(a.summary as string), description: fill(a.description as string) };
      };
      const reload = { namespace: NS, pod: 'cb-1', file: 'registries' };
      const timeout = { namespace: NS, pod: 'cb-1' };
      const tests = {
        rule_files: ['rules.yaml'],
        evaluation_interval: '1m',
        tests: [{
          interval: '1m',
          input_series: [
            // the last reload fails from minute 2 on: pending until 7m, firing after
            { series: `credbroker_config_last_reload_successful{${ours},pod="cb-1",file="registries"}`, values: '1 1 0x20' },
            { series: `credbroker_config_last_reload_successful{${ours},pod="cb-1",file="policy"}`, values: '1x22' },
            // another release's failing reload is not ours
            { series: `credbroker_config_last_reload_successful{job="other-credbroker",namespace="${NS}",pod="o-1",file="registries"}`, values: '0x22' },
            // one script timeout at minute 3
            { series: `credbroker_ext_script_runs_total{${ours},pod="cb-1",outcome="timeout"}`, values: '0 0 0 1x20' },
            { series: `credbroker_ext_script_runs_total{${ours},pod="cb-1",outcome="ok"}`, values: '0+10x22' },
            { series: `credbroker_secret_store_disconnected_namespaces{${ours},pod="cb-1"}`, values: '0x22' },
            { series: `credbroker_secret_store_synced{${ours},pod="cb-1"}`, values: '1x22' }
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'CredbrokerConfigReloadFailing', exp_alerts: [] },
            {
              eval_time: '8m',
              alertname: 'CredbrokerConfigReloadFailing',
              exp_alerts: [{ exp_labels: { severity: 'warning', ...reload }, exp_annotations: annotations('CredbrokerConfigReloadFailing', reload, '0') }]
            },
            { eval_time: '2m', alertname: 'CredbrokerScriptTimeouts', exp_alerts: [] },
            {
              eval_time: '5m',
              alertname: 'CredbrokerScriptTimeouts',
              exp_alerts: [{ exp_labels: { severity: 'warning', ...timeout }, exp_annotations: annotations('CredbrokerScriptTimeouts', timeout, '1') }]
            },
            { eval_time: '20m', alertname: 'CredbrokerScriptTimeouts', exp_alerts: [] },
            { eval_time: '20m', alertname: 'CredbrokerSecretStoreDisconnected', exp_alerts: [] },
            { eval_time: '20m', alertname: 'CredbrokerSecretStoreNotSynced', exp_alerts: [] }
          ]
        }]
      };
      const file = join(work, 'rules.test.yaml');
      writeFileSync(file, stringify(tests));
      const r = spawnSync(promtool, ['test', 'rules', file], { encoding: 'utf8', timeout: 30_000, cwd: work });
      t.equal(r.status, 0, r.stdout + r.stderr);
      t.match(r.stdout, 'SUCCESS');

      // the same test against a rule whose threshold never trips must fail: the unit test can fail
      const never = groups.map((g) => ({ ...g, rules: (g.rules as Obj[]).map((x) => x.alert === 'CredbrokerScriptTimeouts' ? { ...x, expr: (x.expr as string).replace(/> 0$/, '> 5') } : x) }));
      writeFileSync(join(work, 'rules.yaml'), stringify({ groups: never }));
      t.not(spawnSync(promtool, ['test', 'rules', file], { encoding: 'utf8', timeout: 30_000, cwd: work }).status, 0, 'a rule that does not fire fails the unit test');
    });

    await t.test('disabledAlerts, additionalRuleLabels, selector and thresholds', async (t) => {
      const r = one(render({
        prometheusRule: {
          enabled: true, namespace: 'monitoring', disabledAlerts: ['CredbrokerDenialsSpike'], additionalRuleLabels: { team: 'platform' },
          selector: 'service="credbroker"', credentialErrorRatio: 0.2
        }
      }), 'PrometheusRule');
      const rs = (r.spec.groups as Obj[]).flatMap((g) => g.rules as Obj[]);
      t.equal(r.metadata.namespace, 'monitoring');
      t.notOk(rs.some((x) => x.alert === 'CredbrokerDenialsSpike'), 'the disabled alert is left out');
      t.equal(rs.length, ALERTS.length - 1);
      t.ok(rs.every((x) => x.labels.team === 'platform'), 'every alert carries the extra label');
      t.ok(rs.every((x) => (x.expr as string).includes('{service="credbroker"')), 'the selector replaces job and namespace');
      t.match(rs.find((x) => x.alert === 'CredbrokerCredentialFetchErrors')?.expr, / > 0\.2$/);
      const bad = spawnSync(helm as string, ['template', RELEASE, chart, '--set', 'prometheusRule.disabledAlerts[0]=NoSuchAlert'], { encoding: 'utf8' });
      t.not(bad.status, 0, 'an unknown alert name is refused by the schema');
      t.match(bad.stderr, 'disabledAlerts');
    });

    await t.test('the dashboard ConfigMap: sidecar label, valid JSON, only exposed metrics', async (t) => {
      const cms = ofKind(docs, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
      t.equal(cms.length, 1, 'one ConfigMap labelled grafana_dashboard: "1"');
      const cm = cms[0] as Obj;
      t.equal(cm.metadata.namespace, NS);
      const files = Object.keys(cm.data as Obj);
      t.same(files, ['credbroker.json']);
      const text = cm.data['credbroker.json'] as string;
      t.equal(text.trim(), readFileSync(join(chart, 'dashboards', 'credbroker.json'), 'utf8').trim(), 'the file as shipped');
      const dash = JSON.parse(text) as Obj;
      t.equal(dash.uid, 'credbroker');
      t.ok((dash.templating.list as Obj[]).some((v) => v.type === 'datasource'), 'a data source variable');
      const panels = (dash.panels as Obj[]).filter((p) => p.type !== 'row');
      t.ok(panels.length >= 15, `${panels.length} panels`);
      t.equal(new Set((dash.panels as Obj[]).map((p) => p.id)).size, (dash.panels as Obj[]).length, 'panel ids are unique');
      const exprs = [
        ...panels.flatMap((p) => ((p.targets ?? []) as Obj[]).map((x) => [p.title as string, x.expr as string] as const)),
        ...(dash.templating.list as Obj[]).filter((v) => v.type === 'query').map((v) => [`variable ${v.name as string}`, v.definition as string] as const)
      ];
      for (const p of panels) t.ok((p.targets ?? []).length > 0, `${p.title as string} has a query`);
      const seen = new Set<string>();
      for (const [title, expr] of exprs) {
        const names = metricNames(expr);
        t.ok(names.length > 0, `${title}: reads a metric`);
        for (const n of names) {
          seen.add(n);
          if (!exposed.has(n)) t.fail(`${title}: ${n} is not exposed by the service`);
        }
      }
      for (const family of ['credbroker_kubernetes_request_duration_seconds_bucket', 'credbroker_argocd_request_duration_seconds_bucket', 'credbroker_registry_request_duration_seconds_bucket', 'credbroker_build_info', 'credbroker_secret_store_synced']) {
        t.ok(seen.has(family), `the dashboard shows ${family}`);
      }
      const more = render({ grafanaDashboard: { enabled: true, namespace: 'monitoring', annotations: { grafana_folder: 'Platform' }, labelValue: 'yes' } });
      const moved = ofKind(more, 'ConfigMap').find((c) => c.metadata.name === `${JOB}-dashboard`) as Obj;
      t.equal(moved.metadata.namespace, 'monitoring');
      t.equal(moved.metadata.labels.grafana_dashboard, 'yes');
      t.equal(moved.metadata.annotations.grafana_folder, 'Platform');
    });
  });
}
