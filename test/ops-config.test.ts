// The operations files parse and agree with the code: docker-compose (nodes, Prometheus with the
// rules, Grafana with the dashboard provisioned; every file it mounts exists), the Prometheus
// config and alert rules (promtool checks and unit-tests them when it is installed: .ci/run
// installs it), the Grafana dashboard (every metric it and the rules query is one a node
// exports), and the container user (the Dockerfile's numeric UID/GID is the StatefulSet's).
// Docker cannot run here, so nothing is started: these are the checks that need no daemon.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '../cluster/local-cluster.js';
import { NodeMetrics } from '../src/server/metrics.js';

const cluster = join(repoRoot, 'cluster');
// docker compose reads YAML 1.1 merge keys (`<<: *node`).
const yamlOf = (file: string): Record<string, unknown> => parse(readFileSync(join(cluster, file), 'utf8'), { merge: true }) as Record<string, unknown>;
const promtool = spawnSync('promtool', ['--version']).status === 0;

interface ComposeService {
  image?: string;
  build?: unknown;
  volumes?: string[];
  environment?: Record<string, string>;
  ports?: string[];
}

/** Every metric name a node exports (histograms with their series), plus Prometheus's own `up`. */
function exportedMetricNames(): Set<string> {
  const metrics = new NodeMetrics();
  metrics.observe({ hasLeader: () => true, dbSizeBytes: () => 0, keys: () => 0, dataBytes: () => 0, watchers: () => 0, alarms: () => ({ self: 'n1', raised: [] }) });
  const names = new Set<string>(['up']);
  for (const m of metrics.registry.getMetricsAsArray()) {
    const { name, type } = m as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

/** The metric names a PromQL expression uses (raftkv's, gRPC's, the process's and Node.js's). */
function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(raftkv_[a-z0-9_]+|grpc_server_[a-z_]+|process_[a-z_]+|nodejs_[a-z0-9_]+|up)\b(?!\s*\()/g)].map((m) => m[1] ?? '');
}

describe('docker-compose', () => {
  it('runs three nodes, Prometheus with the alert rules and Grafana with the dashboard, mounting files that exist', () => {
    const compose = yamlOf('docker-compose.yml') as { services: Record<string, ComposeService> };
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'n1', 'n2', 'n3', 'prometheus']);
    for (const id of ['n1', 'n2', 'n3']) {
      expect(compose.services[id]?.build).toMatchObject({ dockerfile: 'Dockerfile' });
      expect(compose.services[id]?.environment?.['RAFTKV_ID']).toBe(id);
    }
    const mounts = [...(compose.services['prometheus']?.volumes ?? []), ...(compose.services['grafana']?.volumes ?? [])];
    expect(mounts.map((m) => m.split(':')[1])).toEqual(
      expect.arrayContaining(['/etc/prometheus/prometheus.yml', '/etc/prometheus/prometheus-rules.yml', '/etc/grafana/provisioning', '/var/lib/grafana/dashboards']),
    );
    for (const m of mounts) expect(existsSync(join(cluster, m.split(':')[0] ?? '')), m).toBe(true);
    const datasource = yamlOf('grafana/provisioning/datasources/prometheus.yml') as { datasources: { uid: string; url: string }[] };
    expect(datasource.datasources[0]).toMatchObject({ uid: 'prometheus', url: 'http://prometheus:9090' });
    const provider = yamlOf('grafana/provisioning/dashboards/raftkv.yml') as { providers: { options: { path: string } }[] };
    expect(provider.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
    expect(compose.services['grafana']?.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH']).toBe('/var/lib/grafana/dashboards/raftkv.json');
  });
});

describe('Prometheus and Grafana', () => {
  it('alert rules cover what they must, on metrics the node exports', () => {
    const rules = yamlOf('prometheus-rules.yml') as { groups: { rules: { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string } }[] }[] };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toEqual(
      expect.arrayContaining(['RaftkvNoLeader', 'RaftkvFrequentLeaderChanges', 'RaftkvSlowFsync', 'RaftkvProposalsFailing', 'RaftkvNodeBehind', 'RaftkvAlarm']),
    );
    const exported = exportedMetricNames();
    for (const r of all) {
      expect(['warning', 'critical'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).not.toBe('');
      expect(metricNamesIn(r.expr).length, r.expr).toBeGreaterThan(0);
      for (const name of metricNamesIn(r.expr)) expect(exported, `${r.alert}: ${name}`).toContain(name);
    }
    const config = yamlOf('prometheus.yml') as { rule_files: string[] };
    expect(config.rule_files).toEqual(['prometheus-rules.yml']);
  });

  it('the dashboard queries only metrics the node exports, from the provisioned data source', () => {
    const dashboard = JSON.parse(readFileSync(join(cluster, 'grafana', 'dashboards', 'raftkv.json'), 'utf8')) as { uid: string; panels: { type: string; title: string; targets?: { expr: string; datasource: { uid: string } }[] }[] };
    expect(dashboard.uid).toBe('raftkv');
    const exported = exportedMetricNames();
    const queried = new Set<string>();
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) {
        expect(t.datasource.uid).toBe('prometheus');
        for (const name of metricNamesIn(t.expr)) queried.add(name);
      }
    }
    for (const name of queried) expect(exported, name).toContain(name);
    for (const name of ['raftkv_has_leader', 'grpc_server_handled_total', 'grpc_server_handling_seconds_bucket', 'raftkv_fsync_duration_seconds_bucket', 'process_cpu_seconds_total', 'raftkv_build_info']) {
      expect(queried, name).toContain(name);
    }
  });

  it.skipIf(!promtool)('promtool accepts the config and the rules, and every alert fires on its sample history', () => {
    for (const args of [
      ['check', 'config', 'prometheus.yml'],
      ['check', 'rules', 'prometheus-rules.yml'],
      ['test', 'rules', 'prometheus-rules.test.yml'],
    ]) {
      const r = spawnSync('promtool', args, { cwd: cluster, encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});

describe('containers', () => {
  it('run as the same numeric user and group in the image and the StatefulSet', () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
    expect(user, 'USER uid:gid').not.toBeNull();
    const [uid, gid] = [Number(user?.[1]), Number(user?.[2])];
    expect(uid).toBeGreaterThan(0);
    expect(dockerfile).toContain(`ARG RAFTKV_UID=${uid}`);
    expect(dockerfile).toContain(`ARG RAFTKV_GID=${gid}`);
    const docs = parseAllDocuments(readFileSync(join(cluster, 'kubernetes', 'raftkv.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; spec?: unknown });
    expect(docs.map((d) => d.kind)).toEqual(['Service', 'Service', 'PodDisruptionBudget', 'StatefulSet']);
    const set = docs.find((d) => d.kind === 'StatefulSet') as { spec: { template: { spec: { securityContext: Record<string, unknown>; containers: { securityContext: Record<string, unknown> }[] } } } };
    expect(set.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid });
    expect(set.spec.template.spec.containers[0]?.securityContext).toMatchObject({ allowPrivilegeEscalation: false });
  });
});
