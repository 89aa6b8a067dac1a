// src/master — the master process: the namespace served over gRPC, metrics and
// health over HTTP, graceful shutdown. Later: data sources, sync and cache rules,
// the node registry.
//
// Invariants: one master per data directory (LevelDB's LOCK refuses a second);
// every handler answers either a reply or a status carrying `wharf-errno`; a stop
// finishes or cancels in-flight calls before LevelDB is closed.
export { Master, type MasterOptions } from './Master.js';
