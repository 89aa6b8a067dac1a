// The namespace codecs' 64-bit writers: the same bytes as Buffer's BigInt writers
// for every value, on both sides of the 2^53 fast path, and records that decode to
// what was encoded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeInode, decodeRecordName, decodeRecordState, encodeInodeV1, encodeRecord, isRecordV1 } from '../src/meta/codec.js';
import { writeI64BE, writeU64BE } from '../src/meta/keys.js';

const EDGES = [0n, 1n, 255n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

describe('writeU64BE / writeI64BE', () => {
  test('write exactly what writeBigUInt64BE / writeBigInt64BE write', () => {
    const check = (v: bigint, signed: boolean) => {
      const ours = Buffer.alloc(10, 0xee);
      const node = Buffer.alloc(10, 0xee);
      if (signed) { writeI64BE(ours, v, 1); node.writeBigInt64BE(v, 1); } else { writeU64BE(ours, v, 1); node.writeBigUInt64BE(v, 1); }
      assert.deepEqual(ours, node, `${signed ? 'i64' : 'u64'} ${v}`);
    };
    for (const v of EDGES) check(v, false);
    for (const v of [...EDGES.filter((e) => e < 2n ** 63n), -1n, -(2n ** 53n), -(2n ** 63n)]) check(v, true);
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => check(v, false)), { numRuns: 2000 });
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => check(v, true)), { numRuns: 2000 });
    assert.throws(() => writeU64BE(Buffer.alloc(8), 2n ** 64n, 0), RangeError);
    assert.throws(() => writeU64BE(Buffer.alloc(8), -1n, 0), RangeError);
  });

  test('an inode record round-trips, negative times included', () => {
    const a = { ino: 7n, type: 'file' as const, mode: 0o644, uid: 1, gid: 2, nlink: 1, size: 2n ** 60n, atimeNs: -5n, mtimeNs: 2n ** 62n, ctimeNs: 0n, parent: 2n ** 53n + 1n, version: 9n };
    assert.deepEqual(decodeInode(7n, encodeRecord(a, undefined, 'x')), a);
  });

  test('special files round-trip: devices keep their number (in the size field), FIFOs and sockets have none, every size reads 0', () => {
    const base = { ino: 9n, mode: 0o600, uid: 1, gid: 2, nlink: 1, size: 0n, atimeNs: 1n, mtimeNs: 2n, ctimeNs: 3n, parent: 2n, version: 1n };
    for (const type of ['fifo', 'socket'] as const) assert.deepEqual(decodeInode(9n, encodeRecord({ ...base, type }, undefined, 'p')), { ...base, type });
    for (const type of ['chardev', 'blockdev'] as const) {
      for (const rdev of [0, 0x103, 0xffff_ffff]) assert.deepEqual(decodeInode(9n, encodeRecord({ ...base, type, rdev }, undefined, 'd')), { ...base, type, rdev });
    }
    const bad = encodeRecord({ ...base, type: 'fifo' }, undefined, 'p');
    bad[1] = 8;
    assert.throws(() => decodeInode(9n, bad), /unknown type code 8/);
  });

  test('a record carries its own name and store state beside the attributes; layout-1 records read as attributes only', () => {
    const a = { ino: 7n, type: 'file' as const, mode: 0o644, uid: 1, gid: 2, nlink: 1, size: 5n, atimeNs: 1n, mtimeNs: 2n, ctimeNs: 3n, parent: 2n, version: 9n };
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.option(fc.record({ gen: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fingerprint: fc.string({ unit: 'binary', maxLength: 200 }), pending: fc.boolean() })), (name, s) => {
      const state = s === null ? undefined : s.pending ? s : { gen: s.gen, fingerprint: s.fingerprint };
      // Lone surrogates do not survive UTF-8, in names or anywhere else: compare what UTF-8 keeps.
      const utf8 = (x: string) => Buffer.from(x, 'utf8').toString('utf8');
      const b = encodeRecord(a, state, name);
      assert.deepEqual(decodeInode(7n, b), a);
      assert.equal(decodeRecordName(b), utf8(name));
      assert.deepEqual(decodeRecordState(b), state && { ...state, fingerprint: utf8(state.fingerprint) });
      assert.equal(isRecordV1(b), false);
    }), { numRuns: 500 });
    const v1 = encodeInodeV1(a);
    assert.equal(v1.length, 66);
    assert.equal(isRecordV1(v1), true);
    assert.deepEqual(decodeInode(7n, v1), a);
    assert.equal(decodeRecordName(v1), undefined);
    assert.equal(decodeRecordState(v1), undefined);
    // A record cut short is refused, not misread.
    assert.throws(() => decodeInode(7n, encodeRecord(a, undefined, '').subarray(0, 70)), /unreadable record/);
    assert.throws(() => decodeRecordState(encodeRecord(a, { gen: 1n, fingerprint: 'abcdef' }, '').subarray(0, 80)), /unreadable inode record/);
    assert.throws(() => decodeRecordName(encodeRecord(a, { gen: 1n, fingerprint: 'abcdef' }, 'n').subarray(0, 80)), /unreadable inode record/);
    assert.throws(() => decodeRecordName(encodeRecord(a, undefined, 'n').subarray(0, 70)), /unreadable inode record/);
    assert.throws(() => decodeRecordState(encodeRecord(a, undefined, 'n').subarray(0, 70)), /unreadable inode record/);
  });
});
