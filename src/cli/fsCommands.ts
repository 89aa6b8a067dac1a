// `wharf fs …`: look at and change the namespace through a master.
import type { Command } from 'commander';
import { WharfError, type Attr } from '../common/index.js';
import { mkdirp, readdirAll, removeTree, resolveParent, walkTree } from '../meta/index.js';
import { globals, integer, json, out, withClient } from './context.js';
import { attrJson, lsLine, statText, treeJson, treeText } from './format.js';

export function registerFsCommands(program: Command): void {
  const fs = program.command('fs').description('inspect and change the namespace through a master');
  const owner = () => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });

  fs.command('ls <path>')
    .description('list a directory (or show one entry)')
    .option('-l, --long', 'long listing with attributes', false)
    .action(withClient('ls', async (c, path: string, cmd: { long: boolean }) => {
      const a = await c.resolve(path, { followLast: true });
      const entries = a.type === 'directory' ? readdirAll(c, a.ino) : one(path, a);
      const rows: { name: string; attr: Attr }[] = [];
      for await (const e of entries) {
        if (globals().json) rows.push(e);
        else if (cmd.long) out(lsLine(e, e.attr.type === 'symlink' ? await c.readlink(e.attr.ino) : undefined));
        else out(e.name + (e.attr.type === 'directory' ? '/' : ''));
      }
      if (globals().json) json(rows.map((e) => ({ name: e.name, ...attrJson(e.attr) })));
    }));

  async function* one(path: string, a: Attr) {
    yield { name: path.split('/').filter(Boolean).pop() ?? '/', attr: a };
  }

  fs.command('stat <path>')
    .description('show one inode\'s attributes (symlinks are not followed)')
    .action(withClient('stat', async (c, path: string) => {
      const a = await c.resolve(path);
      if (globals().json) json({ path, ...attrJson(a), ...(a.type === 'symlink' ? { target: await c.readlink(a.ino) } : {}) });
      else out(statText(path, a));
    }));

  fs.command('mkdir <path>')
    .description('create a directory')
    .option('-p, --parents', 'create missing parents; an existing directory is not an error', false)
    .option('-m, --mode <octal>', 'permission bits', '755')
    .action(withClient('mkdir', async (c, path: string, cmd: { parents: boolean; mode: string }) => {
      const init = { mode: parseMode(cmd.mode), ...owner() };
      const a = cmd.parents ? await mkdirp(c, path, init) : await (async () => {
        const { parent, name } = await resolveParent(c, path);
        return c.mkdir(parent.ino, name, init);
      })();
      if (globals().json) json({ path, ...attrJson(a) });
    }));

  fs.command('touch <path>')
    .description('create an empty file, or update the times of an existing one')
    .action(withClient('touch', async (c, path: string) => {
      const { parent, name } = await resolveParent(c, path);
      let a: Attr;
      try {
        a = await c.create(parent.ino, name, { mode: 0o644, ...owner() });
      } catch (e) {
        if (!(e instanceof WharfError) || e.errno !== 'EEXIST') throw e;
        const now = BigInt(Date.now()) * 1_000_000n;
        a = await c.setattr((await c.lookup(parent.ino, name)).ino, { atimeNs: now, mtimeNs: now });
      }
      if (globals().json) json({ path, ...attrJson(a) });
    }));

  fs.command('ln <target> <path>')
    .description('create a symbolic link at PATH pointing to TARGET (always symbolic: Wharf has no hard links)')
    .option('-s, --symbolic', 'accepted for familiarity; links are always symbolic', true)
    .action(withClient('ln', async (c, target: string, path: string) => {
      const { parent, name } = await resolveParent(c, path);
      const a = await c.symlink(parent.ino, name, target, owner());
      if (globals().json) json({ path, target, ...attrJson(a) });
    }));

  fs.command('rm <path>')
    .description('remove a file or symlink; a directory needs -r (or use rmdir semantics with -d)')
    .option('-r, --recursive', 'remove a directory and everything below it', false)
    .option('-d, --dir', 'remove an empty directory', false)
    .action(withClient('rm', async (c, path: string, cmd: { recursive: boolean; dir: boolean }) => {
      const { parent, name } = await resolveParent(c, path);
      let removed = 1;
      if (cmd.recursive) removed = await removeTree(c, parent.ino, name);
      else if (cmd.dir) await c.rmdir(parent.ino, name);
      else await c.unlink(parent.ino, name);
      if (globals().json) json({ path, removed });
    }));

  fs.command('mv <source> <destination>')
    .description('rename; an existing destination directory receives the source (like mv), other destinations are replaced')
    .option('-n, --no-clobber', 'fail with EEXIST if the destination exists')
    .option('-T, --no-target-directory', 'treat the destination as a name even if it is a directory (replace an empty one)')
    .action(withClient('mv', async (c, src: string, dst: string, cmd: { clobber: boolean; targetDirectory: boolean }) => {
      const from = await resolveParent(c, src);
      let to = await resolveParent(c, dst);
      if (cmd.targetDirectory) {
        const existing = await c.lookup(to.parent.ino, to.name).catch((e: unknown) => {
          if (e instanceof WharfError && e.errno === 'ENOENT') return undefined;
          throw e;
        });
        const moving = await c.lookup(from.parent.ino, from.name);
        if (existing?.type === 'directory' && existing.ino !== moving.ino) to = { parent: existing, name: from.name };
      }
      await c.rename(from.parent.ino, from.name, to.parent.ino, to.name, { noReplace: !cmd.clobber });
      if (globals().json) json({ source: src, destination: dst });
    }));

  fs.command('tree [path]')
    .description('show a subtree')
    .option('-L, --depth <n>', 'descend at most N levels', integer(0))
    .action(withClient('tree', async (c, path: string | undefined, cmd: { depth?: number }) => {
      const p = path ?? '/';
      const root = await c.resolve(p, { followLast: true });
      const node = await walkTree(c, p, root, cmd.depth ?? Infinity);
      if (globals().json) json(treeJson(node));
      else out(treeText(node));
    }));

  fs.command('df')
    .description('namespace usage: inodes and bytes')
    .action(withClient('df', async (c) => {
      const s = await c.statfs();
      const usedBytes = (s.totalBlocks - s.freeBlocks) * s.blockSize;
      if (globals().json) json({ ...s, usedBytes });
      else out(`inodes used: ${s.usedInodes}\nbytes used:  ${usedBytes}\nblock size:  ${s.blockSize}\nname max:    ${s.maxNameLength}`);
    }));

}

function parseMode(text: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) throw new WharfError('EINVAL', `mode ${JSON.stringify(text)} is not octal (e.g. 755)`);
  return parseInt(text, 8);
}

