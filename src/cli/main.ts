#!/usr/bin/env node
// The `wharf` command: wiring only. Each group registers its commands; each action
// parses its options, calls the module that does the work, and prints the result.
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_MASTER_ADDRESS, WharfError } from '../common/index.js';
import { integer, printError, useProgram } from './context.js';
import { EXIT, exitCodeOf } from './exitCodes.js';
import { registerFsCommands } from './fsCommands.js';
import { registerMountCommands } from './mountCommands.js';
import { registerServerCommands } from './serverCommands.js';
import { registerNodeCommands } from './nodeCommands.js';
import { registerCacheCommands } from './cacheCommands.js';
import { registerAccessCommands } from './accessCommands.js';
import { registerIamCommands } from './iamCommands.js';
import { applyConfig } from './configFile.js';
import { registerConfigCommands } from './configCommands.js';
import { registerSourceCommands } from './sourceCommands.js';
import { registerSyncCommands } from './syncCommands.js';

// The SDK warns on every start that its releases after January 2027 need Node 22. The
// lockfile pins today's SDK, and the warning is the first thing an operator would see
// in every log: said once in the README instead.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const program = new Command('wharf')
  .description('Wharf: a caching filesystem for data in object storage')
  .version('0.1.0')
  .addOption(new Option('--master <host:port>', `master address (default: $WHARF_MASTER, else ${DEFAULT_MASTER_ADDRESS})`))
  .option('--timeout <ms>', 'per-call deadline', integer(1), 30_000)
  .option('--json', 'machine-readable output', false)
  .option('--tls-ca <file>', 'TLS: the CA (PEM) that signed the other side\'s certificate; turns TLS on')
  .option('--tls-cert <file>', 'TLS: this process\'s certificate (PEM): a server\'s identity, a client\'s for mutual TLS')
  .option('--tls-key <file>', 'TLS: the private key (PEM) of --tls-cert')
  .option('--tls-refresh <ms>', 'how often the TLS files are re-read (renewed certificates apply without a restart)', integer(100), 60_000)
  .option('--key-file <file>', 'the access key as ID:SECRET (default: $WHARF_ACCESS_KEY); sent only over TLS')
  .option('--config <file>', 'a configuration file (YAML; default $WHARF_CONFIG): settings under flags and WHARF_<SECTION>_<KEY>')
  .showHelpAfterError()
  .exitOverride();
useProgram(program);

registerServerCommands(program);
registerFsCommands(program);
registerSourceCommands(program);
registerSyncCommands(program);
registerMountCommands(program);
registerNodeCommands(program);
registerCacheCommands(program);
registerAccessCommands(program);
registerIamCommands(program);
registerConfigCommands(program);

// The configuration file and the environment fill in what a command's flags leave
// out: applied as each subcommand is dispatched, before its own flags are parsed (so
// a setting can satisfy a required flag, and a flag on the line still wins).
(function hookAll(c: Command): void {
  if (c.commands.length === 0) return;
  c.hook('preSubcommand', (_self, sub) => applyConfig(program, sub));
  for (const sub of c.commands) hookAll(sub);
})(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.ok : EXIT.usage;
      return;
    }
    printError(program.args[0] ?? 'wharf', e);
    process.exitCode = e instanceof WharfError ? exitCodeOf(e.errno) : EXIT.failed;
  }
}

await main();
