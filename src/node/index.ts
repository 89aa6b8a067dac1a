// src/node — the cache cluster's data plane: a cache node's block server over its
// own block cache (BlockServer, blockProtocol), its identity on its disk
// (nodeIdentity), block placement by weighted rendezvous hashing (Placement), and
// the mount's side: which node to read a block from and what to do when it fails
// (ClusterLocator, a BlockLocator for the cache's reader).
//
// Invariants:
//   - A node's identity is the UUID on its cache disk, never its address.
//   - A block's placement key is its block file id (source, key, fingerprint, block
//     size) and index: a changed object is a different block on every node.
//   - Placement depends only on the member list (ids and weights): every mount and
//     node with the same list agrees on every block's owner.
//   - A reader gets the file's bytes or an error, never wrong bytes: a node's body
//     is taken up to the bytes asked for, and a short or failed one goes on from the
//     next candidate (or the store) at the exact byte it stopped at.
//   - The registry (on the master) is followed, not required: a node keeps serving
//     and a mount keeps its last member list while the master is unreachable.
//   - A node that fails a read is skipped only after repeated failures, for a bounded
//     time; the store is always the last hop.
export { Placement, type PlacementNode } from './Placement.js';
export { nodeIdentity } from './NodeIdentity.js';
export { BlockServer, type BlockServerOptions, type NodeStats } from './BlockServer.js';
export { ClusterLocator, type ClusterLocatorOptions, type ClusterMember, type ClusterCounters } from './ClusterLocator.js';
export { parseBlockRequest, blockUrlPath, httpStatusOf, type BlockRequest } from './blockProtocol.js';
export { NodeAgent } from './NodeAgent.js';
export { NodeTls, NodeTransport, type NodeTlsFiles } from './NodeTls.js';
export { NodeControlClient } from './NodeControlClient.js';
export { CacheControl, type NodePolicy, type CachePin } from './CacheControl.js';
export { FileCatalog, type CatalogFile } from './FileCatalog.js';
export { parseWarmRequest, parseEvictRequest, type WarmRequest, type WarmEntry, type WarmResult, type EvictRequest, type EvictResult } from './cacheProtocol.js';
export { ClusterView, membersOf } from './ClusterView.js';
