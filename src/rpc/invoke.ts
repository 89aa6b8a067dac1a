// One unary call with a deadline, its failure turned into the WharfError the
// master raised (fromServiceError): shared by every client stub.
import { Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { WharfError } from '../common/index.js';
import { fromServiceError } from './status.js';

export type Callback<T> = (err: ServiceError | null, value?: T) => void;

export function invoke<T>(method: string, deadlineMs: number, call: (md: Metadata, opts: CallOptions, cb: Callback<T>) => ClientUnaryCall, metadata?: Metadata): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    call(metadata ? metadata.clone() : new Metadata(), { deadline: Date.now() + deadlineMs }, (err, value) => {
      if (err) reject(fromServiceError(err, method));
      else if (value === undefined) reject(new WharfError('EIO', `${method}: empty reply`));
      else resolve(value);
    });
  });
}

/** Channel options every Wharf client uses. */
export function channelOptions(maxMessageBytes: number): Record<string, number> {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    // Reconnect quickly after a master restart instead of backing off for minutes.
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5_000,
  };
}
