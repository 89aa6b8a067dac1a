// The configuration file (YAML; `--config FILE` or $WHARF_CONFIG): one section per
// part — `global` (the global options), `master`, `node` (wharf node run), `mount`
// (wharf mount and the mount options of wharf up), `up` (wharf up's own) — whose
// keys are the command's long options in camelCase (`cacheSize: 20GB`). Precedence:
// a flag on the command line, then the environment (WHARF_<SECTION>_<KEY>, e.g.
// WHARF_MOUNT_CACHE_SIZE=20GB), then the file, then the built-in default. Values go
// through the same parsers as flags, so a bad one is refused with the same message.
import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { distance } from 'fastest-levenshtein';
import { parseDocument } from 'yaml';
import { WharfError } from '../common/index.js';

/** Which commands (paths below `wharf`) each section configures; '' is the program itself. */
export const SECTIONS: Record<string, readonly string[]> = { global: [''], master: ['master'], node: ['node run'], mount: ['mount', 'up'], up: ['up'] };
const MOUNT_ONLY_IN_UP = 'mount';

export type ConfigDoc = Record<string, Record<string, unknown>>;

export function loadConfig(file: string): ConfigDoc {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new WharfError('ENOENT', `cannot read the configuration file ${file}: ${(e as Error).message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length) throw new WharfError('EINVAL', `${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
  const v = (doc.toJS() ?? {}) as unknown;
  if (typeof v !== 'object' || Array.isArray(v) || v === null) throw new WharfError('EINVAL', `${file}: the top level must be a map of sections (${Object.keys(SECTIONS).join(', ')})`);
  for (const [k, s] of Object.entries(v)) {
    if (s !== null && (typeof s !== 'object' || Array.isArray(s))) throw new WharfError('EINVAL', `${file}: section ${k} must be a map of settings`);
  }
  return v as ConfigDoc;
}

export function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

function envName(section: string, key: string): string {
  return `WHARF_${section.toUpperCase()}_${key.replace(/[A-Z]/g, (m) => `_${m}`).toUpperCase()}`;
}

/** An option's value from text or YAML, through the flag's own parser. */
function convert(o: Option, raw: unknown, where: string): unknown {
  const takesValue = o.required || o.optional;
  if (!takesValue) {
    if (typeof raw === 'boolean') return o.negate ? !raw : raw;
    if (raw === 'true' || raw === 'false') return (raw === 'true') !== o.negate;
    throw new WharfError('EINVAL', `${where}: ${JSON.stringify(raw)} is not true or false`);
  }
  if (Array.isArray(raw) || (raw !== null && typeof raw === 'object')) throw new WharfError('EINVAL', `${where}: expected one value, not a list or a map`);
  const text = String(raw);
  if (o.argChoices && !o.argChoices.includes(text)) throw new WharfError('EINVAL', `${where}: ${JSON.stringify(text)} is not one of ${o.argChoices.join(', ')}`);
  try {
    return o.parseArg ? o.parseArg(text, undefined) : text;
  } catch (e) {
    throw new WharfError('EINVAL', `${where}: ${(e as Error).message}`);
  }
}

/** The options a section may set on a command (for `up`, the mount section sets the mount flags, the up section the rest). */
function optionsFor(section: string, cmd: Command, path: string): Option[] {
  const all = cmd.options.filter((o) => o.long && o.long !== '--help');
  if (path !== 'up') return all;
  const mount = cmd.parent?.commands.find((c) => c.name() === 'mount');
  const mountKeys = new Set(mount?.options.map((o) => o.attributeName()) ?? []);
  return all.filter((o) => (section === MOUNT_ONLY_IN_UP) === mountKeys.has(o.attributeName()));
}

/** Sets, on the command about to run, every option not given on the command line: from the environment, else the file. */
export function applyConfig(program: Command, cmd: Command): void {
  const file = (program.opts() as { config?: string }).config ?? process.env['WHARF_CONFIG'];
  const doc = file ? loadConfig(file) : {};
  const path = commandPath(cmd);
  const targets: [Command, string][] = [[program, 'global'], ...Object.entries(SECTIONS).filter(([s, paths]) => s !== 'global' && paths.includes(path)).map(([s]) => [cmd, s] as [Command, string])];
  for (const [target, section] of targets) {
    for (const o of optionsFor(section, target, section === 'global' ? '' : path)) {
      const key = o.attributeName();
      if (key === 'config') continue;
      if (target.getOptionValueSource(key) === 'cli') continue;
      const fromEnv = process.env[envName(section, key)];
      if (fromEnv !== undefined) target.setOptionValueWithSource(key, convert(o, fromEnv, envName(section, key)), 'env');
      else if (doc[section]?.[key] !== undefined) target.setOptionValueWithSource(key, convert(o, doc[section][key], `${file}: ${section}.${key}`), 'config');
    }
  }
}

/** Every problem in a configuration file: unknown sections and keys (with the nearest name), bad values. */
export function checkConfig(program: Command, file: string): { problems: string[]; settings: number } {
  const doc = loadConfig(file);
  const problems: string[] = [];
  let settings = 0;
  for (const [section, values] of Object.entries(doc)) {
    const paths = SECTIONS[section];
    if (!paths) {
      problems.push(`${section}: unknown section${hint(section, Object.keys(SECTIONS))}; sections are ${Object.keys(SECTIONS).join(', ')}`);
      continue;
    }
    const cmd = paths[0] === '' ? program : findCommand(program, paths[0]!);
    const opts = cmd ? optionsFor(section, cmd, paths[0]!).filter((o) => o.attributeName() !== 'config') : [];
    for (const [key, raw] of Object.entries(values ?? {})) {
      const o = opts.find((x) => x.attributeName() === key);
      if (!o) {
        problems.push(`${section}.${key}: unknown key${hint(key, opts.map((x) => x.attributeName()))}`);
        continue;
      }
      try {
        convert(o, raw, `${section}.${key}`);
        settings++;
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  return { problems, settings };
}

function findCommand(program: Command, path: string): Command | undefined {
  let at: Command | undefined = program;
  for (const name of path.split(' ')) at = at?.commands.find((c) => c.name() === name);
  return at;
}

function hint(name: string, known: string[]): string {
  let best: string | undefined;
  let bestD = 4;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best ? ` (did you mean ${best}?)` : '';
}
