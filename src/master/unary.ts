// Adapts an async function to a gRPC unary handler: every failure goes through
// toStatus (the one errno ↔ status mapping), and every call is counted.
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { toStatus } from '../rpc/index.js';
import type { ServiceMetrics } from './ServiceMetrics.js';

export function unary<Req, Res>(method: string, metrics: ServiceMetrics, fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const done = metrics.start(method);
    fn(call.request, call).then(
      (res) => { done(undefined); callback(null, res); },
      (e: unknown) => { const s = toStatus(e, method); done(s); callback(s, null); },
    );
  };
}
