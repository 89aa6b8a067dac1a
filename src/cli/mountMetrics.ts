// The mount's metrics: cache and upload counters as Prometheus gauges at /metrics,
// the raw counters as JSON at /stats, and /healthz.
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FuseMount } from '../fuse/index.js';
import { serveMetrics, type MetricsEndpoint } from '../master/index.js';

export function serveMountMetrics(listen: string, mount: FuseMount, cluster?: () => unknown): Promise<MetricsEndpoint> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'wharf_mount_' });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  gauge('wharf_cache_bytes', 'Bytes of blocks in the block cache', () => mount.stats().cache.bytes);
  gauge('wharf_cache_blocks', 'Blocks in the block cache', () => mount.stats().cache.blocks);
  gauge('wharf_cache_hits_total', 'Block reads served from the cache disk', () => mount.stats().cache.hits);
  gauge('wharf_cache_memory_hits_total', 'Block reads served from memory', () => mount.stats().reader.memoryHits);
  gauge('wharf_cache_misses_total', 'Block reads not in the cache', () => mount.stats().cache.misses);
  gauge('wharf_cache_evicted_total', 'Blocks evicted', () => mount.stats().cache.evicted);
  gauge('wharf_cache_corrupt_total', 'Blocks that failed their checksum and were fetched again', () => mount.stats().cache.corrupt);
  gauge('wharf_cache_direct_io', '1 while whole cache blocks are read and written with O_DIRECT (0: through the page cache)', () => (mount.stats().cache.directIo ? 1 : 0));
  gauge('wharf_store_fetches_total', 'Blocks fetched from under stores', () => mount.stats().reader.fetches);
  gauge('wharf_store_requests_total', 'Ranged GETs sent to under stores (a prefetch run is one)', () => mount.stats().reader.requests);
  gauge('wharf_store_range_reads_total', 'Random reads answered with just their bytes from the store (not cached)', () => mount.stats().reader.rangeReads);
  gauge('wharf_store_fetched_bytes_total', 'Bytes read from under stores', () => mount.stats().reader.fetchedBytes);
  gauge('wharf_store_fetch_failures_total', 'Ranged GETs that failed or timed out', () => mount.stats().reader.fetchFailures);
  gauge('wharf_uploads_total', 'Files uploaded', () => mount.stats().io.uploads);
  gauge('wharf_upload_failures_total', 'Uploads that failed (the data stays staged)', () => mount.stats().io.uploadFailures);
  gauge('wharf_staged_dirty_files', 'Files written but not yet uploaded', () => mount.stats().io.stagedDirty);
  if (cluster) {
    const c = () => cluster() as { nodeReads: number; nodeBytes: number; nodeFailures: number; fallbacks: number; storeReads: number };
    gauge('wharf_cluster_node_reads_total', 'Block reads sent to cache nodes', () => c().nodeReads);
    gauge('wharf_cluster_node_bytes_total', 'Bytes read from cache nodes', () => c().nodeBytes);
    gauge('wharf_cluster_node_failures_total', 'Cache node reads that failed or timed out', () => c().nodeFailures);
    gauge('wharf_cluster_fallbacks_total', 'Reads that went on from the next candidate after a node failed', () => c().fallbacks);
    gauge('wharf_cluster_store_reads_total', 'Reads (or their rest) that went to the store past the nodes', () => c().storeReads);
  }
  return serveMetrics(listen, registry, { '/stats': () => ({ ...mount.stats(), ...(cluster ? { cluster: cluster() } : {}) }) });
}
