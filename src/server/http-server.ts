/**
 * The node's HTTP endpoint: `/metrics` (Prometheus text format), `/healthz` (liveness: the process
 * is up and its loop turns) and `/readyz` (readiness: the node knows a leader and can serve
 * linearizable requests), plus `/status`, a JSON summary for scripts (`/status?hash=1` adds the
 * full state hash). Binds exactly the address it is given.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';

/** What the health endpoints report on. */
export interface HealthSource {
  /** Liveness: null when healthy, else the reason. */
  liveness(): string | null;
  /** Readiness: null when ready, else the reason. */
  readiness(): string | null;
  /**
   * A small JSON-able summary for `/status` (id, role, leader, term, indexes), cheap at any data
   * size. With `stateHash` (`/status?hash=1`) it also carries the full state hash, which walks
   * every key: for tests and small clusters, not for health checks.
   */
  status(options: { readonly stateHash: boolean }): object | Promise<object>;
}

/** Starts the HTTP server on `host:port`; resolves once it listens. */
export async function startHttpServer(address: string, registry: Registry, health: HealthSource): Promise<Server> {
  const server = createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'method not allowed\n');
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => answer(200, text, registry.contentType),
          (e: unknown) => answer(500, `metrics failed: ${String(e)}\n`),
        );
        return;
      case '/healthz': {
        const problem = health.liveness();
        return problem === null ? answer(200, 'ok\n') : answer(503, `${problem}\n`);
      }
      case '/readyz': {
        const problem = health.readiness();
        return problem === null ? answer(200, 'ok\n') : answer(503, `${problem}\n`);
      }
      case '/status':
        Promise.resolve(health.status({ stateHash: new URLSearchParams(query).get('hash') === '1' })).then(
          (status) => answer(200, `${JSON.stringify(status)}\n`, 'application/json'),
          (e: unknown) => answer(500, `status failed: ${String(e)}\n`),
        );
        return;
      default:
        return answer(404, 'not found: try /metrics, /healthz, /readyz or /status\n');
    }
  });
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Splits `host:port` (IPv6 hosts in brackets). */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(i + 1)) };
}
