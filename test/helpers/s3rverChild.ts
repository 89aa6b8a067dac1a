// Child process that hosts s3rver (started by s3rver.ts with --openssl-legacy-provider,
// which s3rver's continuation tokens need). Args: DIR BUCKET [PORT].
// Prints {"port":N} on stdout once listening; exits when stdin closes (the test
// runner went away) or on SIGTERM.
import S3rver from 's3rver';

// `node --test dist/test/` runs every .js under a test/ directory, this one too:
// unless s3rver.ts started it (and said so), it has nothing to do.
if (process.env['WHARF_S3RVER_CHILD'] !== '1') process.exit(0);

const [directory, bucket, portArg] = process.argv.slice(2);
if (!directory || !bucket) {
  process.stderr.write('usage: s3rverChild DIR BUCKET [PORT]\n');
  process.exit(2);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(portArg ?? 0),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket, configs: [] }],
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
const stop = (): void => { void server.close().finally(() => process.exit(0)); };
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
