// The worker thread that walks a LocalStore's directory tree for listings.
//
// A local listing is a readdir and an lstat per entry: CPU on whichever thread
// awaits them. Walking here leaves the main thread to apply what was listed, so a
// sync of a local directory lists and writes on two cores instead of taking turns
// on one.
import { parentPort } from 'node:worker_threads';
import { WharfError } from '../common/index.js';
import { ListCursors, listLocal } from './localList.js';
import type { ListPage } from './UnderStore.js';

export interface ListRequest {
  id: number;
  root: string;
  prefix: string;
  delimited: boolean;
  maxKeys: number;
  token: string | undefined;
}

export type ListReply =
  | { id: number; page: ListPage }
  | { id: number; error: { errno?: string; code?: string; message: string } };

const cursors = new ListCursors();

parentPort?.on('message', (r: ListRequest) => {
  let reply: ListReply;
  try {
    reply = { id: r.id, page: listLocal(r.root, r.prefix, r.delimited, r.maxKeys, r.token, cursors) };
  } catch (e) {
    reply = {
      id: r.id,
      error: e instanceof WharfError ? { errno: e.errno, message: e.message } : { code: (e as NodeJS.ErrnoException).code, message: e instanceof Error ? e.message : String(e) },
    };
  }
  parentPort!.postMessage(reply);
});
