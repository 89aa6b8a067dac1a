// KeyMapping: every rule of KEYS.md, the object/directory conflict, that no key
// maps outside its mount (property test), and the URI parser.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWharfError } from '../src/common/index.js';
import { keyToPath, LocalStore, mapKeys, parseStoreUri, pathToKey } from '../src/ufs/index.js';
import { tempDir } from './helpers/tmp.js';

const P = 'data/set/';

function skipReason(prefix: string, key: string): string {
  const m = keyToPath(prefix, key);
  assert.equal(m.kind, 'skip', `${JSON.stringify(key)} should be skipped, got ${JSON.stringify(m)}`);
  return m.kind === 'skip' ? m.reason : '';
}

function throwsErrno(fn: () => unknown, errno: string): void {
  assert.throws(fn, (e: unknown) => isWharfError(e) && e.errno === errno);
}

describe('keyToPath', () => {
  it('maps objects to files and "dir/" markers to directories', () => {
    assert.deepEqual(keyToPath(P, 'data/set/a/b.txt'), { kind: 'file', parts: ['a', 'b.txt'] });
    assert.deepEqual(keyToPath(P, 'data/set/a/'), { kind: 'dir-marker', parts: ['a'] });
    assert.deepEqual(keyToPath(P, 'data/set/a/b/'), { kind: 'dir-marker', parts: ['a', 'b'] });
    assert.deepEqual(keyToPath('', 'top'), { kind: 'file', parts: ['top'] });
  });

  it('maps the key equal to the prefix to the mount root', () => {
    assert.deepEqual(keyToPath(P, 'data/set/'), { kind: 'dir-marker', parts: [] });
  });

  it('skips keys with empty segments instead of collapsing them', () => {
    assert.match(skipReason(P, 'data/set/a//b'), /empty/);
    assert.match(skipReason(P, 'data/set//a'), /empty/);
    assert.match(skipReason(P, 'data/set/a//'), /empty/);
    assert.match(skipReason('', '/abs'), /empty/);
  });

  it('skips "." and ".." segments', () => {
    for (const k of ['data/set/.', 'data/set/..', 'data/set/a/../b', 'data/set/./a', 'data/set/../x/', 'data/set/a/..']) {
      assert.match(skipReason(P, k), /"\.{1,2}" path segment/);
    }
    // Names that merely contain dots are fine.
    assert.deepEqual(keyToPath(P, 'data/set/...'), { kind: 'file', parts: ['...'] });
    assert.deepEqual(keyToPath(P, 'data/set/..a/.b'), { kind: 'file', parts: ['..a', '.b'] });
  });

  it('skips a segment over 255 bytes, and a path over 4,096', () => {
    assert.equal(keyToPath(P, `data/set/${'x'.repeat(255)}`).kind, 'file');
    assert.match(skipReason(P, `data/set/${'x'.repeat(256)}`), /256 bytes/);
    assert.match(skipReason(P, `data/set/${'é'.repeat(128)}`), /256 bytes/); // 2 bytes each in UTF-8
    assert.match(skipReason('', Array.from({ length: 20 }, () => 'y'.repeat(250)).join('/')), /path is/);
  });

  it('skips NUL and keys outside the prefix', () => {
    assert.match(skipReason(P, 'data/set/a\0b'), /NUL/);
    assert.match(skipReason(P, 'data/other'), /not under/);
    assert.match(skipReason(P, 'data/set'), /not under/); // the prefix without its slash
    assert.match(skipReason(P, 'data/settle/x'), /not under/);
  });

  it('rejects a malformed mount prefix', () => {
    throwsErrno(() => keyToPath('data', 'data/x'), 'EINVAL');
    throwsErrno(() => keyToPath('a//', 'a//x'), 'EINVAL');
    throwsErrno(() => keyToPath('../', '../x'), 'EINVAL');
  });
});

describe('pathToKey', () => {
  it('builds keys under the prefix, with "/" for directories', () => {
    assert.equal(pathToKey(P, ['a', 'b.txt'], false), 'data/set/a/b.txt');
    assert.equal(pathToKey(P, ['a'], true), 'data/set/a/');
    assert.equal(pathToKey(P, [], true), 'data/set/');
    assert.equal(pathToKey('', ['x y', 'ü'], false), 'x y/ü');
  });

  it('refuses what is not a path below the mount', () => {
    throwsErrno(() => pathToKey(P, ['..', 'x'], false), 'EINVAL');
    throwsErrno(() => pathToKey(P, ['a/b'], false), 'EINVAL');
    throwsErrno(() => pathToKey(P, [''], false), 'EINVAL');
    throwsErrno(() => pathToKey(P, [], false), 'EINVAL');
    throwsErrno(() => pathToKey('', [], true), 'EINVAL');
    throwsErrno(() => pathToKey(P, ['x'.repeat(256)], false), 'ENAMETOOLONG');
    throwsErrno(() => pathToKey(P, Array.from({ length: 5 }, () => 'z'.repeat(250)), false), 'ENAMETOOLONG');
  });
});

describe('mapKeys', () => {
  it('lets the directory win when an object and a prefix share a name', () => {
    const r = mapKeys('', ['a', 'a/b', 'c', 'c/', 'd/e/f', 'd']);
    assert.deepEqual(r.entries.map((e) => [e.parts.join('/'), e.kind, e.key]), [
      ['a', 'dir', undefined], ['a/b', 'file', 'a/b'], ['c', 'dir', 'c/'], ['d', 'dir', undefined], ['d/e', 'dir', undefined], ['d/e/f', 'file', 'd/e/f'],
    ]);
    assert.deepEqual(r.skipped.map((s) => s.key).sort(), ['a', 'c', 'd']);
    assert.ok(r.skipped.every((s) => /directory wins/.test(s.reason)));
  });

  it('gives the same tree whatever the listing order', () => {
    const keys = ['m/', 'm/x', 'm', 'n//bad', 'n/ok', 'p/q/', 'p/q', 'outside'];
    const a = mapKeys('', keys);
    const b = mapKeys('', [...keys].reverse());
    assert.deepEqual(a.entries, b.entries);
    assert.deepEqual(a.skipped.map((s) => s.key).sort(), b.skipped.map((s) => s.key).sort());
  });

  it('accepts a delimited listing: prefixes count as directories', () => {
    const r = mapKeys(P, ['data/set/', 'data/set/f', 'data/set/sub/', 'data/set/sub']);
    assert.deepEqual(r.entries.map((e) => `${e.kind}:${e.parts.join('/')}`), ['file:f', 'dir:sub']);
    assert.deepEqual(r.skipped.map((s) => s.key), ['data/set/sub']);
  });
});

describe('no key maps outside the mount', () => {
  const segment = fc.oneof(
    fc.constantFrom('', '.', '..', '...', 'a', 'b', ' ', '%2e%2e', '\\', '\0', '文件', 'x'.repeat(256)),
    fc.string({ maxLength: 8 }),
  );
  const key = fc.array(segment, { maxLength: 6 }).map((segs) => segs.join('/'));
  const prefix = fc.constantFrom('', 'm/', 'deep/mount/');

  it('every mapped path resolves below the mount root (property)', () => {
    fc.assert(fc.property(prefix, key, (pre, rest) => {
      const m = keyToPath(pre, pre + rest);
      if (m.kind === 'skip') return;
      for (const part of m.parts) {
        assert.ok(part !== '' && part !== '.' && part !== '..' && !part.includes('/') && !part.includes('\0'), JSON.stringify(part));
      }
      const resolved = posix.resolve('/mnt', ...m.parts);
      assert.ok(resolved === '/mnt' || resolved.startsWith('/mnt/'), resolved);
      assert.equal(resolved, ['/mnt', ...m.parts].join('/').replace(/\/$/, ''));
      // And back: the same key (markers keep their slash).
      if (m.parts.length > 0 || pre !== '') assert.equal(pathToKey(pre, m.parts, m.kind === 'dir-marker'), pre + rest);
    }), { numRuns: 2000 });
  });

  it('keys not starting with the prefix never map', () => {
    fc.assert(fc.property(key, (k) => {
      fc.pre(!k.startsWith('m/'));
      assert.equal(keyToPath('m/', k).kind, 'skip');
    }), { numRuns: 500 });
  });
});

describe('parseStoreUri', () => {
  it('parses s3 URIs; the prefix gets a trailing slash and is taken literally', () => {
    assert.deepEqual(parseStoreUri('s3://bucket'), { scheme: 's3', bucket: 'bucket', prefix: '', uri: 's3://bucket/' });
    assert.deepEqual(parseStoreUri('s3://bucket/'), { scheme: 's3', bucket: 'bucket', prefix: '', uri: 's3://bucket/' });
    assert.deepEqual(parseStoreUri('s3://my.bucket-1/data/set'), { scheme: 's3', bucket: 'my.bucket-1', prefix: 'data/set/', uri: 's3://my.bucket-1/data/set/' });
    assert.equal(parseStoreUri('s3://bkt/with%20pct/').prefix, 'with%20pct/');
  });

  it('parses file URIs and absolute paths', () => {
    assert.deepEqual(parseStoreUri('file:///srv/data'), { scheme: 'file', root: '/srv/data', prefix: '', uri: 'file:///srv/data' });
    assert.deepEqual(parseStoreUri('file:///srv/my%20data'), { scheme: 'file', root: '/srv/my data', prefix: '', uri: 'file:///srv/my%20data' });
    assert.deepEqual(parseStoreUri('/srv/data/../x'), { scheme: 'file', root: '/srv/x', prefix: '', uri: 'file:///srv/x' });
  });

  it('rejects what it cannot use', () => {
    for (const bad of ['s3://', 's3:///x', 's3://b/a//c', 's3://b/../x', 's3://b/./x', 'http://host/x', 'relative/dir', 'file://host/x', '']) {
      throwsErrno(() => parseStoreUri(bad), 'EINVAL');
    }
  });
});

describe('LocalStore keys never escape its root', () => {
  it('rejects "..", ".", empty segments, absolute keys and NUL with EINVAL; writes nothing outside', async () => {
    const outer = tempDir('wharf-ufs-escape-');
    const rootDir = join(outer.path, 'root');
    mkdirSync(rootDir);
    const store = await LocalStore.open(rootDir);
    try {
      const bad = ['../escaped', 'a/../../escaped', '..', 'a/..', './x', 'a/./b', '/etc/passwd', '/abs/', 'a//b', 'nul\0x', '../'];
      for (const key of bad) {
        for (const op of [
          () => store.put(key, Buffer.from('x')), () => store.get(key), () => store.head(key),
          () => store.delete(key), () => store.copy('ok', key), () => store.copy(key, 'ok'),
        ]) {
          await assert.rejects(op(), (e: unknown) => isWharfError(e) && e.errno === 'EINVAL', `${JSON.stringify(key)}`);
        }
      }
      assert.deepEqual(readdirSync(outer.path), ['root']);
      assert.deepEqual((await store.list('../')).objects, []);
      assert.deepEqual((await store.list('/')).objects, []);
    } finally {
      await store.close();
      outer.remove();
    }
  });
});
