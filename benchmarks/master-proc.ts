// A master in its own process for the benchmarks (see startMaster in harness.ts):
//   node dist/benchmarks/master-proc.js <dataDir> [<certFile> <keyFile>]
// With a certificate it serves TLS and requires access keys (the bootstrap key is
// written to <dataDir>/admin.key).
// Prints {"address": "..."} as one line once serving; stops when stdin closes, so
// it never outlives the benchmark that started it. Not a benchmark itself.
import { Master } from '../src/master/index.js';

const dataDir = process.argv[2];
if (!dataDir) {
  process.stderr.write('usage: master-proc.js <dataDir>\n');
  process.exit(2);
}

const [certFile, keyFile] = process.argv.slice(3);
const master = await Master.start(certFile && keyFile
  ? { dataDir, listen: 'localhost:0', tls: { certFile, keyFile }, auth: { enabled: true } }
  : { dataDir, listen: '127.0.0.1:0' });
process.stdout.write(`${JSON.stringify({ address: master.address })}\n`);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  master.stop(2_000).then(
    () => process.exit(0),
    (e: unknown) => { process.stderr.write(`master stop failed: ${String(e)}\n`); process.exit(1); },
  );
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
