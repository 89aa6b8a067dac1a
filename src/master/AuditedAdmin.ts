// Every Admin call leaves one audit line (AuditLog): who, from where, what, on what,
// with which (redacted) parameters, the result and the latency. The calls that
// cluster members make every few seconds — node heartbeats, the node and source
// lists mounts and nodes poll — are recorded only when they fail, or they would bury
// the operators' own actions.
import { performance } from 'node:perf_hooks';
import type { Metadata, ServerUnaryCall, ServiceError, handleUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { newRequestId, peerAddress, type AuditLog } from '../access/index.js';
import { ERRNO_METADATA_KEY } from '../rpc/index.js';
import type { CallAuth } from './CallAuth.js';

const QUIET = new Set(['NodeHeartbeat', 'ListNodes', 'ListSources', 'ShowSource', 'ShowCacheJob', 'ShowJob', 'QueryAudit', 'WhoAmI']);

function resourceOf(req: Record<string, unknown>): string {
  return ['instance', 'source', 'group', 'name', 'id', 'cidr'].map((k) => req[k]).filter((v) => typeof v === 'string' && v !== '').join('/') || '-';
}

function resultOf(err: ServiceError | null | undefined): string {
  if (!err) return 'ok';
  const md = (err as { metadata?: Metadata }).metadata;
  const errno = md?.get(ERRNO_METADATA_KEY)[0];
  return typeof errno === 'string' ? errno : `status ${err.code}`;
}

function addressOf(call: ServerUnaryCall<unknown, unknown>): string {
  try {
    return peerAddress(call.getPeer());
  } catch {
    return call.getPeer();
  }
}

/** `handlers` with every (unary) method recorded in the audit log. */
export function audited<H extends object>(handlers: H, audit: AuditLog, auth?: CallAuth): H {
  const out: Record<string, handleUnaryCall<unknown, unknown>> = {};
  for (const [action, h] of Object.entries(handlers) as [string, unknown][]) {
    out[action] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const t0 = performance.now();
      const requestId = newRequestId();
      (h as handleUnaryCall<unknown, unknown>)(call, (err, res, ...rest) => {
        if (!QUIET.has(action) || err) {
          const req = (call.request ?? {}) as Record<string, unknown>;
          audit.record({
            requestId, principal: auth?.principalName(call) ?? 'anonymous', sourceIp: addressOf(call), plane: 'admin', action, resource: resourceOf(req),
            params: req, result: resultOf(err as ServiceError | null), latencyMs: Math.round((performance.now() - t0) * 1000) / 1000,
          });
        }
        (callback as (...a: unknown[]) => void)(err, res, ...rest);
      });
    };
  }
  return out as H;
}
