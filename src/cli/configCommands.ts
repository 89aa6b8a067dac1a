// `wharf config check FILE`: every problem in a configuration file, precisely.
import type { Command } from 'commander';
import { checkConfig } from './configFile.js';
import { globals, guarded, json, out } from './context.js';
import { EXIT } from './exitCodes.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('the configuration file');
  config.command('check <file>')
    .description('report unknown sections and keys (with the nearest name) and bad values; exit 1 if any')
    .action(guarded(() => 'config check', async (file: string) => {
      const r = checkConfig(program, file);
      if (globals().json) json(r);
      else if (r.problems.length === 0) out(`${file}: ok (${r.settings} setting${r.settings === 1 ? '' : 's'})`);
      else for (const p of r.problems) out(`${file}: ${p}`);
      if (r.problems.length > 0) process.exitCode = EXIT.failed;
    }));
}
