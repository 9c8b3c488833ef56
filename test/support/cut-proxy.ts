/**
 * A loopback TCP proxy whose connections a test can cut mid-flight (as a network failure would),
 * while it keeps listening so the client can reconnect through it.
 */
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

export class CutProxy {
  private readonly sockets = new Set<Socket>();
  /** Connections accepted so far. */
  connections = 0;

  private constructor(private readonly server: Server) {}

  /** Listens on a free loopback port and forwards every connection to `target` (host:port). */
  static async start(target: string): Promise<CutProxy> {
    const [host, port] = target.split(':') as [string, string];
    let proxy: CutProxy | null = null;
    const server = createServer((inbound) => {
      const p = proxy as CutProxy;
      p.connections += 1;
      const outbound = connect(Number(port), host);
      for (const s of [inbound, outbound]) {
        p.sockets.add(s);
        s.on('close', () => p.sockets.delete(s));
        s.on('error', () => {});
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    proxy = new CutProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** host:port to connect to. */
  get address(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Destroys every open connection (the proxy keeps listening). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
