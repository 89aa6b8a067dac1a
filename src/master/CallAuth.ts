// Authentication and authorization of each call when auth is on: the access key in
// the call's `authorization` metadata (Identities), then the role and instance scope
// the call needs (ADMIN_POLICY for Admin RPCs; NAMESPACE_WRITERS for namespace
// changes). Refusals: EKEYREJECTED/EKEYEXPIRED (UNAUTHENTICATED) for the key,
// EACCES (PERMISSION_DENIED) for the role. With auth off every call is "anonymous"
// and allowed (the master then listens on loopback only, or was told --insecure).
import type { Metadata, ServerUnaryCall, handleUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { WharfError } from '../common/index.js';
import { CREDENTIAL_HEADER, grantText, granted, parseCredentialHeader, type Grant } from '../access/index.js';
import { toStatus } from '../rpc/index.js';
import { ADMIN_POLICY, NAMESPACE_WRITERS, type CallPolicy, type Scope } from './AdminPolicy.js';
import type { Identities, Principal } from './Identities.js';
import type { NodeRegistry } from './NodeRegistry.js';
import type { SourceCatalog } from './SourceCatalog.js';

export const ANONYMOUS = 'anonymous';

type AnyCall = { metadata: Metadata; request?: unknown };

export class CallAuth {
  private readonly principals = new WeakMap<object, Principal>();

  constructor(
    readonly enabled: boolean,
    readonly identities: Identities,
    private readonly catalog: SourceCatalog,
    private readonly nodes: NodeRegistry,
    /** How the master serves: plaintext, TLS, or TLS requiring client certificates. */
    readonly transport: 'plaintext' | 'tls' | 'mtls' = 'plaintext',
  ) {}

  /**
   * Who made the call, for logs and the audit: "user/keyId" once authenticated;
   * "unverified/keyId" for a key that was refused (never its secret); else anonymous.
   */
  principalName(call: object): string {
    const p = this.principals.get(call);
    if (p) return `${p.user}/${p.keyId}`;
    const md = (call as Partial<AnyCall>).metadata;
    const cred = md ? parseCredentialHeader(md.get(CREDENTIAL_HEADER)[0]) : undefined;
    return cred && /^[A-Za-z0-9]{1,64}$/.test(cred.keyId) ? `unverified/${cred.keyId}` : ANONYMOUS;
  }

  principalOf(call: object): Principal | undefined {
    return this.principals.get(call);
  }

  /** Authenticates the call's key (once per call object). */
  async authenticate(call: AnyCall): Promise<Principal> {
    const known = this.principals.get(call);
    if (known) return known;
    const p = await this.identities.authenticate(call.metadata.get(CREDENTIAL_HEADER)[0]);
    this.principals.set(call, p);
    return p;
  }

  /** Admin RPC `method`: throws unless the caller's grants cover it. */
  async admin(call: AnyCall, method: string): Promise<void> {
    if (!this.enabled) return;
    const p = await this.authenticate(call);
    const policy = (ADMIN_POLICY as Record<string, CallPolicy | undefined>)[method];
    if (!policy) throw new WharfError('EACCES', `${method} has no access policy`); // cannot happen: the table is checked at compile time
    const req = (call.request ?? {}) as Record<string, unknown>;
    for (const instance of this.instancesOf(policy.scope, req)) {
      if (!granted(p.grants, policy.roles, instance)) throw denied(p, method, policy.roles, instance);
    }
  }

  /**
   * A namespace call: reads need any role, changes a writer's. A scoped grant
   * covers its instance's sources; outside every source (the root, the directories
   * above mount points) it may read — to reach its sources — but not change.
   * `sourceInstance` resolves the call's source's instance (undefined: outside
   * every source), asked only when every grant is scoped.
   */
  async namespace(call: AnyCall, kind: 'read' | 'write', op: string, sourceInstance: () => Promise<string | undefined>): Promise<void> {
    if (!this.enabled) return;
    const p = await this.authenticate(call);
    const roles = kind === 'read' ? ADMIN_POLICY.ListSources.roles : NAMESPACE_WRITERS;
    // An unscoped grant with the role covers everything; otherwise the scoped grants
    // are judged against the source's instance (a mix of both: the unscoped ones
    // first, never a scoped grant standing in for an unscoped one).
    if (p.grants.some((g) => g.instance === undefined && roles.includes(g.role))) return;
    const instance = await sourceInstance();
    const scope = instance === undefined ? (kind === 'read' ? null : undefined) : instance;
    if (!granted(p.grants, roles, scope)) throw denied(p, `namespace ${op}`, roles, scope);
  }

  /** The instances a call is about (each must be covered): null any, undefined cluster-wide. */
  private instancesOf(scope: Scope, req: Record<string, unknown>): (string | null | undefined)[] {
    const field = (f: string) => (typeof req[f] === 'string' ? (req[f] as string) : '');
    switch (scope.kind) {
      case 'any': return [null];
      case 'cluster': return [undefined];
      case 'instance': return [field(scope.field)];
      case 'source': return [this.sourceInstance(field(scope.field))];
      // An unknown node (a first registration) is about no instance yet.
      case 'node': { const n = this.nodes.find(field(scope.field)); return [n ? n.instance ?? '' : null]; }
      case 'bind': return [this.sourceInstance(field('source')), field('instance')];
      // Adding nodes takes them from the nodes in no instance (or another): that needs '' covered too.
      case 'resize': return [field('name'), ...(Array.isArray(req['add_nodes']) && req['add_nodes'].length > 0 ? [''] : [])];
    }
  }

  /** A source's instance ('' for none; an unknown source: cluster-wide, so a scoped key learns nothing of it). */
  private sourceInstance(name: string): string | undefined {
    try {
      return this.catalog.get(name).instance ?? '';
    } catch {
      return undefined;
    }
  }
}

function denied(p: Principal, what: string, roles: readonly string[], instance: string | null | undefined): WharfError {
  const on = instance === undefined ? ' (cluster-wide: needs an unscoped grant)' : instance === null ? '' : ` on instance ${instance === '' ? '(none)' : instance}`;
  return new WharfError('EACCES', `user ${p.user} (${p.grants.map((g: Grant) => grantText(g)).join(', ')}) may not call ${what}${on}: it needs ${roles.join(' or ')}`);
}

/** `handlers` with every Admin call authorized first (a refusal never reaches the handler). */
export function authorized<H extends object>(handlers: H, auth: CallAuth): H {
  if (!auth.enabled) return handlers;
  const out: Record<string, handleUnaryCall<unknown, unknown>> = {};
  for (const [method, h] of Object.entries(handlers) as [string, handleUnaryCall<unknown, unknown>][]) {
    out[method] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      auth.admin(call, method).then(
        () => h(call, callback),
        (e: unknown) => callback(toStatus(e, `Admin.${method}`), null),
      );
    };
  }
  return out as H;
}
