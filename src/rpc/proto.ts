// Loads the wharf.v1 contract from proto/ at run time. 64-bit integers arrive as
// decimal strings (never JS numbers) and are turned into bigint in convert.ts.
import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType as NamespaceProto } from './gen/namespace.js';
import type { ProtoGrpcType as AdminProto } from './gen/admin.js';

type ProtoGrpcType = NamespaceProto & { wharf: { v1: AdminProto['wharf']['v1'] } };

/** proto/ at the package root; this file sits at dist/src/rpc/ once built. */
const PROTO_ROOT = fileURLToPath(new URL('../../../proto/', import.meta.url));

let cached: ProtoGrpcType | undefined;

export function wharfProto(): ProtoGrpcType {
  if (!cached) {
    const def = loadSync(['wharf/v1/namespace.proto', 'wharf/v1/admin.proto'], {
      includeDirs: [PROTO_ROOT],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    cached = loadPackageDefinition(def) as GrpcObject as unknown as ProtoGrpcType;
  }
  return cached;
}
