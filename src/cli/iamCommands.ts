// `wharf user …`, `wharf key …`, `wharf whoami`: IAM users with their roles, access
// keys (the secret printed once, or written to a 0600 file), and who the master
// takes this process for.
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { WharfError } from '../common/index.js';
import type { Command } from 'commander';
import { ROLES } from '../access/index.js';
import type { WireAccessKey, WireUser } from '../rpc/index.js';
import { duration, globals, json, out, withAdmin } from './context.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function userLine(u: WireUser): string {
  return `${u.name.padEnd(20)} ${(u.disabled ? 'disabled' : 'enabled').padEnd(9)} ${u.grants.join(', ')}${u.description ? `  — ${u.description}` : ''}`;
}

function keyLine(k: WireAccessKey): string {
  const exp = Number(k.expires_ms);
  const state = k.disabled ? 'disabled' : exp > 0 && exp <= Date.now() ? 'expired' : 'active';
  return `${k.id.padEnd(22)} ${k.user.padEnd(16)} ${state.padEnd(9)} created ${new Date(Number(k.created_ms)).toISOString()}  expires ${exp > 0 ? new Date(exp).toISOString() : 'never'}${k.description ? `  — ${k.description}` : ''}`;
}

export function registerIamCommands(program: Command): void {
  const roleHelp = `a role (${ROLES.join(', ')}), optionally @INSTANCE; repeat for several`;
  const user = program.command('user').description('IAM users: who may manage the cluster, with which roles');
  user.command('create <name>').requiredOption('--role <role>', roleHelp, collect).option('--description <text>', 'who or what it is', '')
    .action(withAdmin('user create', async (admin, name: string, o: { role: string[]; description: string }) => {
      const u = await admin.createUser(name, o.role, o.description);
      if (globals().json) json(u); else out(userLine(u));
    }));
  user.command('list')
    .action(withAdmin('user list', async (admin) => {
      const l = await admin.listUsers();
      if (globals().json) return json(l);
      for (const u of l) out(userLine(u));
    }));
  user.command('update <name>').option('--role <role>', `replaces the roles: ${roleHelp}`, collect)
    .option('--disable', 'refuse all of its keys', false).option('--enable', 'accept its keys again', false)
    .action(withAdmin('user update', async (admin, name: string, o: { role?: string[]; disable: boolean; enable: boolean }) => {
      const u = await admin.updateUser(name, { ...(o.role ? { grants: o.role } : {}), ...(o.disable ? { disabled: true } : o.enable ? { disabled: false } : {}) });
      if (globals().json) json(u); else out(userLine(u));
    }));
  user.command('delete <name>').description('the user and all of its keys')
    .action(withAdmin('user delete', async (admin, name: string) => {
      const n = await admin.deleteUser(name);
      if (globals().json) json({ keysDeleted: n }); else out(`user ${name} deleted with ${n} key(s)`);
    }));

  const key = program.command('key').description('access keys: an id and a secret (shown once), sent over TLS on every call');
  key.command('create <user>').option('--expires <duration>', 'valid for this long (90d, 12h); default never', duration)
    .option('--description <text>', 'where it is used', '')
    .option('--out <file>', 'write "ID:SECRET" to this file (mode 0600) instead of printing the secret')
    .action(withAdmin('key create', async (admin, userName: string, o: { expires?: number; description: string; out?: string }) => {
      // The file first (new, 0600): a secret made for a file that cannot be written would be lost.
      let fd: number | undefined;
      if (o.out) {
        try {
          fd = openSync(o.out, 'wx', 0o600);
        } catch (e) {
          throw new WharfError('EEXIST', `cannot create ${o.out} for the key: ${(e as Error).message} (no key was made)`);
        }
      }
      let r;
      try {
        r = await admin.createKey(userName, { ...(o.expires ? { expiresMs: Date.now() + o.expires } : {}), description: o.description });
      } catch (e) {
        if (fd !== undefined) { closeSync(fd); rmSync(o.out!); }
        throw e;
      }
      if (fd !== undefined) {
        writeSync(fd, `${r.key!.id}:${r.secret}\n`);
        fsyncSync(fd);
        closeSync(fd);
        if (globals().json) json({ key: r.key, file: o.out }); else out(`key ${r.key!.id} of ${userName} written to ${o.out}`);
        return;
      }
      if (globals().json) return json(r);
      out(`key id:  ${r.key!.id}\nsecret:  ${r.secret}\n\nThe secret is shown this once. Give it to the client as --key-file (a file holding ${r.key!.id}:SECRET) or $WHARF_ACCESS_KEY.`);
    }));
  key.command('list').option('--user <name>', 'only this user\'s keys')
    .action(withAdmin('key list', async (admin, o: { user?: string }) => {
      const l = await admin.listKeys(o.user ?? '');
      if (globals().json) return json(l);
      for (const k of l) out(keyLine(k));
    }));
  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    key.command(`${verb} <id>`)
      .action(withAdmin(`key ${verb}`, async (admin, id: string) => {
        const k = await admin.setKeyDisabled(id, disabled);
        if (globals().json) json(k); else out(keyLine(k));
      }));
  }
  key.command('delete <id>')
    .action(withAdmin('key delete', async (admin, id: string) => {
      await admin.deleteKey(id);
      if (globals().json) json({ deleted: id }); else out(`key ${id} deleted`);
    }));

  program.command('whoami').description('who the master takes this process for: user, key, roles, address, TLS')
    .action(withAdmin('whoami', async (admin) => {
      const w = await admin.whoAmI();
      if (globals().json) return json(w);
      out(w.auth ? `user ${w.user}, key ${w.key_id}, roles ${w.grants.join(', ')}` : 'auth is off on this master: every caller may do everything');
      out(`from ${w.address}, ${w.tls ? `TLS${w.client_certificate ? ' with a client certificate' : ''}` : 'plaintext'}`);
    }));
}
