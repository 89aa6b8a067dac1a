// Structured logging (pino, JSON lines on stderr). Level from WHARF_LOG_LEVEL.
import { pino, type Logger } from 'pino';

export type { Logger };

const root: Logger = pino(
  {
    name: 'wharf',
    level: process.env['WHARF_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    // Credentials must never reach a log line; every known secret-bearing key is censored.
    redact: { paths: ['*.secretAccessKey', '*.accessKeyId', '*.sessionToken', '*.password', '*.credentials'], censor: '[redacted]' },
  },
  pino.destination({ fd: 2, sync: true }),
);

export function logger(component: string): Logger {
  return root.child({ component });
}
