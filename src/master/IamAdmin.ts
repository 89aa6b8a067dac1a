// The gRPC face of IAM (part of wharf.v1.Admin): users, access keys, WhoAmI.
// A key's secret leaves the master exactly once, in CreateKey's reply.
import type { AdminHandlers } from '../rpc/gen/wharf/v1/Admin.js';
import type { AccessKey } from '../rpc/gen/wharf/v1/AccessKey.js';
import type { User } from '../rpc/gen/wharf/v1/User.js';
import { grantText, parseGrant, peerAddress } from '../access/index.js';
import type { CallAuth } from './CallAuth.js';
import type { KeyView } from './Identities.js';
import type { UserRecord } from './records.js';
import type { ServiceMetrics } from './ServiceMetrics.js';
import { unary } from './unary.js';
import { wireBytes } from './wire.js';

type Names = 'WhoAmI' | 'CreateUser' | 'UpdateUser' | 'DeleteUser' | 'ListUsers' | 'CreateKey' | 'ListKeys' | 'SetKeyDisabled' | 'DeleteKey';

function userToWire(u: UserRecord): User {
  return { name: u.name, grants: u.grants.map(grantText), disabled: u.disabled, created_ms: String(u.createdMs), description: u.description };
}

function keyToWire(k: KeyView): AccessKey {
  return { id: k.id, user: k.user, description: k.description, created_ms: String(k.createdMs), expires_ms: String(k.expiresMs), disabled: k.disabled };
}

export function iamHandlers(auth: CallAuth, metrics: ServiceMetrics): Pick<AdminHandlers, Names> {
  const ids = auth.identities;
  const u = <Req, Res>(m: string, fn: Parameters<typeof unary<Req, Res>>[2]) => unary<Req, Res>(`Admin.${m}`, metrics, fn);
  return {
    WhoAmI: u('WhoAmI', async (_r, call) => {
      const p = auth.principalOf(call);
      const ctx = call.getAuthContext();
      return {
        auth: auth.enabled, user: p?.user ?? '', key_id: p?.keyId ?? '', grants: p ? p.grants.map(grantText) : [],
        address: peerAddress(call.getPeer()), tls: auth.transport !== 'plaintext', client_certificate: Boolean(ctx.sslPeerCertificate?.subject),
      };
    }),
    CreateUser: u('CreateUser', async (r) => userToWire(await ids.createUser(r.name, r.grants.map(parseGrant), r.description))),
    UpdateUser: u('UpdateUser', async (r) => userToWire(await ids.updateUser(r.name, {
      ...(r.grants.length ? { grants: r.grants.map(parseGrant) } : {}), ...(r._disabled ? { disabled: r.disabled! } : {}),
    }))),
    DeleteUser: u('DeleteUser', async (r) => ({ keys_deleted: await ids.deleteUser(r.name) })),
    ListUsers: u('ListUsers', async () => ({ users: ids.listUsers().map(userToWire) })),
    CreateKey: u('CreateKey', async (r) => {
      const expires = wireBytes(r.expires_ms, 'expiry');
      const { key, secret } = await ids.createKey(r.user, { ...(expires > 0 ? { expiresMs: expires } : {}), description: r.description });
      return { key: keyToWire(key), secret };
    }),
    ListKeys: u('ListKeys', async (r) => ({ keys: ids.listKeys(r.user).map(keyToWire) })),
    SetKeyDisabled: u('SetKeyDisabled', async (r) => keyToWire(await ids.setKeyDisabled(r.id, r.disabled))),
    DeleteKey: u('DeleteKey', async (r) => { await ids.deleteKey(r.id); return {}; }),
  };
}
