// src/common — what every other module shares: inode numbers (bigint, never a JS
// number), attributes, name/path validation, the one error type (WharfError with
// an errno), configuration defaults and logging.
// Invariants: nothing here does I/O other than logging; nothing here imports
// another Wharf module.
export * from './errors.js';
export * from './ino.js';
export * from './attr.js';
export * from './names.js';
export * from './config.js';
export { logger, type Logger } from './log.js';
