// Runs the real `wharf` binary (dist/src/cli/main.js) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WHARF_BIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface MasterProcess {
  child: ChildProcess;
  address: string;
  /** http://host:port/metrics when started with --metrics. */
  metricsUrl: string | undefined;
  /** With --console: its base URL. */
  consoleUrl: string | undefined;
  /** stderr collected so far (structured logs). */
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
}

/** Starts `wharf master` on a free port and waits for its "listening on" line. */
export async function startMasterProcess(dataDir: string, extraArgs: string[] = []): Promise<MasterProcess> {
  const child = spawn(process.execPath, [WHARF_BIN, 'master', '--data', dataDir, '--listen', '127.0.0.1:0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WHARF_LOG_LEVEL: process.env['WHARF_LOG_LEVEL'] ?? 'warn' },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`master did not start in 20 s; stderr: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0 && out.includes('listening on')) { clearTimeout(timer); resolve(out.slice(0, nl)); }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`master exited (${code}) before listening; stderr: ${err}`)); });
  });
  const address = /listening on ([^,\s]+)/.exec(line)?.[1];
  if (!address) throw new Error(`unexpected first line from the master: ${line}`);
  return { child, address, metricsUrl: /metrics on ([^,\s]+)/.exec(line)?.[1], consoleUrl: /console on ([^,\s]+)/.exec(line)?.[1], stderr: () => err, exited };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `wharf ARGS...` to completion. Resolves on 'close' (once stdout and stderr are
 * drained; 'exit' may come first and lose output) and kills the child if it outlives
 * `deadlineMs`, so a command that wrongly keeps running fails a test instead of hanging it.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, deadlineMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WHARF_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? -1 : -2), stdout, stderr });
    });
  });
}

/**
 * Runs the CLI in a terminal: a pseudo-terminal from util-linux `script` (in
 * bsdutils, which every Debian has) is its stdin, stdout and stderr, so the paths
 * that only a person at a terminal sees run (confirmation prompts, progress bars).
 * `answer` is typed once `prompt` shows in the output. Output is what the terminal
 * showed (stdout and stderr together, with the echo of what was typed).
 */
export function runCliInTerminal(args: string[], env: NodeJS.ProcessEnv = {}, dialog?: { prompt: RegExp; answer: string }, deadlineMs = 20_000): Promise<{ code: number; output: string }> {
  const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, WHARF_BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn', TERM: 'xterm', SHELL: '/bin/sh', ...env },
    });
    let output = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (dialog && !answered && dialog.prompt.test(output)) {
        answered = true;
        child.stdin.write(`${dialog.answer}\r`);
      }
    });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? (signal ? -1 : -2), output });
    });
  });
}
