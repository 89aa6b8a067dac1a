// Benchmark output: a fixed-width table on stdout for people, and
// benchmarks/results/<name>.json for comparing runs over time. The JSON carries
// the machine it came from, because a number without its machine means little.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  node: string;
  platform: string;
  release: string;
  totalMemBytes: number;
  date: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuCount: cpus.length,
    node: process.version,
    platform: os.platform(),
    release: os.release(),
    totalMemBytes: os.totalmem(),
    date: new Date().toISOString(),
  };
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned; that is the default for every column but the first. */
  align?: 'left' | 'right';
}

export function printTable(title: string, columns: readonly (string | Column)[], rows: readonly (readonly string[])[]): void {
  const cols: Column[] = columns.map((c, i) => (typeof c === 'string' ? { header: c, align: i === 0 ? 'left' : 'right' } : c));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cols.map((c, i) => {
      const cell = cells[i] ?? '';
      const w = widths[i]!;
      return (c.align ?? 'right') === 'left' ? cell.padEnd(w) : cell.padStart(w);
    }).join('  ').trimEnd();
  const out = [title, line(cols.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(line(r));
  process.stdout.write(`${out.join('\n')}\n\n`);
}

export function printNotes(lines: readonly string[]): void {
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

/** Where results go; BENCH_RESULTS_DIR overrides it so a scratch run need not touch the committed ones. */
export function resultsDir(): string {
  return process.env['BENCH_RESULTS_DIR'] ?? fileURLToPath(new URL('../../benchmarks/results/', import.meta.url));
}

/** Writes results/<name>.json (via a .tmp file, so a killed run never leaves half a file). Returns its path. */
export async function writeResults(name: string, body: Record<string, unknown>): Promise<string> {
  const dir = resultsDir();
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  const json = JSON.stringify({ benchmark: name, machine: machineInfo(), ...body }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
  await writeFile(`${file}.tmp`, `${json}\n`);
  await rename(`${file}.tmp`, file);
  process.stdout.write(`results: ${path.relative(process.cwd(), file) || file}\n`);
  return file;
}

// ---- formatting ------------------------------------------------------------------

export function fmtCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Microseconds, with a decimal only where it still carries information. */
export function fmtUs(us: number): string {
  return us >= 100 ? fmtCount(us) : us.toFixed(1);
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? fmtCount(ms) : ms.toFixed(2);
}

export function fmtPct(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`;
}

export const MB = 1_000_000;

export function fmtMB(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

export function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}
