// src/rpc — the wire contract in TypeScript: loading proto/wharf/v1, typed stubs
// (generated into gen/ by `make build`), message ↔ domain conversion, the one
// errno ↔ gRPC status mapping, and GrpcMetaClient.
//
// Invariants: 64-bit integers cross the wire as decimal strings and become bigint
// in convert.ts, never a JS number; a failed call always surfaces as a WharfError
// whose errno is the one the master raised (trailing metadata `wharf-errno`).
export { wharfProto } from './proto.js';
export { toStatus, fromServiceError, statusOfErrno, ERRNO_METADATA_KEY } from './status.js';
export { attrToWire, attrFromWire, typeFromWire, entryFromWire, statFsToWire, statFsFromWire, parseIno, parseInt64 } from './convert.js';
export { GrpcMetaClient, type GrpcMetaClientOptions } from './GrpcMetaClient.js';
export type { NamespaceHandlers } from './gen/wharf/v1/Namespace.js';
export { AdminClient, type WireNode, type WireNodeList, type WireSource, type WireRule, type WireJob, type WireStatus, type WireSourceDetail, type WireInstance, type WireCacheJob, type WireNodePolicy, type WireGroup, type WireAccessDecision, type WireAuditEntry, type WireUser, type WireStreamStatus, type WireAccessKey, type WireWhoAmI } from './AdminClient.js';
export { DEFAULT_TLS_REFRESH_MS, callMetadata, channelCredentials, checkPem, serverCredentials, type ClientSecurity, type ClientTls, type ServerTls } from './security.js';
