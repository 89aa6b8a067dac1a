// Defaults and environment lookups, read once at the edges (CLI) and passed down;
// nothing below the CLI reads the environment itself.

/** The documented local port of a master when neither --master nor WHARF_MASTER says otherwise. */
export const DEFAULT_MASTER_PORT = 19_200;
export const DEFAULT_MASTER_ADDRESS = `127.0.0.1:${DEFAULT_MASTER_PORT}`;

/** Largest gRPC message either side accepts; bigger ones fail with RESOURCE_EXHAUSTED. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export const READDIR_DEFAULT_PAGE = 2048;
/** With 255-byte names an entry is ~350 bytes on the wire; 8192 of them stay under 3 MiB. */
export const READDIR_MAX_PAGE = 8192;

export function masterAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env['WHARF_MASTER'] ?? DEFAULT_MASTER_ADDRESS;
}
