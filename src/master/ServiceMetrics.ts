// Per-method call counts, errors and latency, exposed in Prometheus text format
// by the master's metrics endpoint (prom-client).
import type { StatusObject } from '@grpc/grpc-js';
import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from 'prom-client';
import { ERRNO_METADATA_KEY } from '../rpc/index.js';

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'errno'>;
  private readonly latency: Histogram<'method'>;

  constructor(writeQueueDepth: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'wharf_master_' });
    this.calls = new Counter({ name: 'wharf_rpc_calls_total', help: 'Namespace calls by method and result errno ("ok" on success)', labelNames: ['method', 'errno'], registers: [this.registry] });
    this.latency = new Histogram({
      name: 'wharf_rpc_seconds', help: 'Namespace call latency inside the master', labelNames: ['method'], registers: [this.registry],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    });
    new Gauge({ name: 'wharf_write_queue_depth', help: 'Namespace mutations queued or running', registers: [this.registry], collect() { this.set(writeQueueDepth()); } });
  }

  /** Call at the start of a call; call the result with the failure status (or nothing) at its end. */
  start(method: string): (failure: Partial<StatusObject> | undefined) => void {
    const t0 = process.hrtime.bigint();
    return (failure) => {
      this.latency.observe({ method }, Number(process.hrtime.bigint() - t0) / 1e9);
      const errno = failure ? String(failure.metadata?.get(ERRNO_METADATA_KEY)[0] ?? 'EIO') : 'ok';
      this.calls.inc({ method, errno });
    };
  }
}
