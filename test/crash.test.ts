// Crash safety: a master process is killed with SIGKILL in the middle of a
// mutation storm (the last of three rounds with --fsync). After restart fsck is clean and every acknowledged operation is
// there; the one call each client had in flight may have landed or not, never half.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_INO, WharfError, type Ino } from '../src/common/index.js';
import { fsckDataDir, readdirAll } from '../src/meta/index.js';
import { GrpcMetaClient } from '../src/rpc/index.js';
import { startMasterProcess } from './helpers/processes.js';
import { tempDir } from './helpers/tmp.js';

const CLIENTS = 8;
const o = { mode: 0o644, uid: 0, gid: 0 };

/** Where a client's file is: the index of a directory, or absent. */
type Place = number | null;
interface NameState { acked: Place; inFlight?: Place }

test('SIGKILL during a mutation storm loses no acknowledged operation', async () => {
  const dir = tempDir();
  const dataDir = `${dir.path}/meta`;
  try {
    for (let round = 0; round < 3; round++) {
      // The last round with --fsync: group commit must not acknowledge before the batch is written.
      const m = await startMasterProcess(dataDir, round === 2 ? ['--fsync'] : []);
      const setup = new GrpcMetaClient(m.address);
      const dirs: Ino[] = [];
      for (let i = 0; i < 3; i++) {
        const name = `r${round}d${i}`;
        dirs.push((await setup.mkdir(ROOT_INO, name, { ...o, mode: 0o755 })).ino);
      }
      await setup.close();

      const states = new Map<string, NameState>();
      let acked = 0;
      let stop = false;
      const storm = Array.from({ length: CLIENTS }, async (_, ci) => {
        const c = new GrpcMetaClient(m.address, { deadlineMs: 5_000 });
        try {
          for (let k = 0; !stop; k++) {
            const name = `c${ci}-${k % 40}`;
            const st = states.get(name) ?? { acked: null };
            states.set(name, st);
            const target: Place = st.acked === null ? k % 3 : k % 5 === 0 ? null : (st.acked + 1) % 3;
            st.inFlight = target;
            try {
              if (st.acked === null) await c.create(dirs[target!]!, name, o);
              else if (target === null) await c.unlink(dirs[st.acked]!, name);
              else await c.rename(dirs[st.acked]!, name, dirs[target]!, name);
            } catch (e) {
              // The master died under us: this call's outcome is unknown, so it stays in flight.
              if (e instanceof WharfError && (e.errno === 'ENOTCONN' || e.errno === 'ETIMEDOUT' || e.errno === 'EIO')) return;
              throw e;
            }
            st.acked = target;
            delete st.inFlight;
            acked++;
          }
        } finally {
          await c.close();
        }
      });
      await sleep(700 + round * 400);
      m.child.kill('SIGKILL');
      stop = true;
      assert.equal(await m.exited, 'SIGKILL');
      await Promise.all(storm);
      assert.ok(acked > 50, `the storm made progress before the kill (${acked} acknowledged)`);

      const report = await fsckDataDir(dataDir);
      assert.deepEqual(report.findings, [], `round ${round}: fsck is clean after SIGKILL`);

      const again = await startMasterProcess(dataDir);
      const c = new GrpcMetaClient(again.address);
      try {
        const found = new Map<string, number>();
        for (const [i, d] of dirs.entries()) for await (const e of readdirAll(c, d)) found.set(e.name, i);
        for (const [name, st] of states) {
          const at = found.has(name) ? found.get(name)! : null;
          const allowed = 'inFlight' in st ? [st.acked, st.inFlight] : [st.acked];
          assert.ok(allowed.includes(at), `round ${round}: ${name} is at ${at}; acknowledged ${st.acked}, in flight ${st.inFlight}`);
        }
        // The restarted master takes writes again.
        await c.create(dirs[0]!, `after-restart-${round}`, o);
      } finally {
        await c.close();
        again.child.kill('SIGTERM');
        assert.equal(await again.exited, 0);
      }
    }
    assert.deepEqual((await fsckDataDir(dataDir)).findings, []);
  } finally {
    dir.remove();
  }
});
