// An HTTP endpoint for operators: Prometheus text at /metrics, /healthz, and any
// extra JSON routes (a mount's /stats). Used by the master and by mounts.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsEndpoint {
  server: Server;
  /** host:port actually bound (port 0 picks one). */
  address: string;
  close(): Promise<void>;
}

export async function serveMetrics(listen: string, registry: Registry, json: Record<string, () => unknown> = {}): Promise<MetricsEndpoint> {
  const server = createServer((req, res) => {
    const route = req.url ?? '';
    if (route === '/metrics') {
      registry.metrics().then(
        (text) => { res.writeHead(200, { 'content-type': registry.contentType }); res.end(text); },
        (e: unknown) => { res.writeHead(500); res.end(String(e)); },
      );
    } else if (route === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (json[route]) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json[route]!()));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const i = listen.lastIndexOf(':');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listen.slice(i + 1)), listen.slice(0, i), () => resolve());
  });
  const a = server.address();
  return {
    server,
    address: `${listen.slice(0, i)}:${typeof a === 'object' && a ? a.port : 0}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
