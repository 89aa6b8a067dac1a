// src/master — the master process: the namespace served over gRPC (wharf.v1.Namespace),
// data sources and metadata sync (wharf.v1.Admin: the mount table, sync rules and
// jobs, begin/end resynchronisation, on-access sync), metrics and health over HTTP,
// graceful shutdown, and the cache-node registry (NodeRegistry: registration,
// heartbeats, node states and the placement epoch), cache instances with their
// rules and jobs, permission groups, IAM (users, roles, access keys) and TLS, the
// audit log, and the sources' streams of store events (EventStreams).
//
// Invariants: one master per data directory (LevelDB's LOCK refuses a second);
// every handler answers either a reply or a status carrying `wharf-errno`; a stop
// finishes or cancels in-flight calls before LevelDB is closed. Source, rule and job
// records change only inside InodeTree.write (serialised with namespace changes);
// rule operations of one source are serialised by a per-source FIFO; jobs of one
// source run one at a time. Node records are written through one chain per
// registry; a node's state is derived from its last heartbeat, never stored.
export { Master, storeOpener, type MasterOptions } from './Master.js';
export { Namespace } from './Namespace.js';
export type { StoreOpener, ImportRequest } from './SourceCatalog.js';
export { SyncControl, type SyncControlOptions, type SourceStatus, type SyncModeView } from './SyncControl.js';
export * from './records.js';
export { serveMetrics, type MetricsEndpoint } from './MetricsEndpoint.js';
export { NodeRegistry, NODE_STATES, type NodeState, type NodeView, type NodeRegistryOptions } from './NodeRegistry.js';
export { EventStreams, applyStoreEvent, applyStoreEvents, checkStream, type EventStreamsOptions } from './EventStreams.js';
