// An S3 bucket (AWS or S3-compatible: MinIO, Ceph, s3rver) as an under-store.
//
// Connections: one keep-alive agent with maxSockets as the bound on concurrent
// requests. Timeouts: connect, request (until the response headers arrive) and
// socket idle (also while a body streams). Retries: the SDK's standard mode with
// exponential backoff and jitter, maxAttempts in all. Credentials come from the
// options or, when absent, the SDK's default chain (environment, profile, IMDS);
// they never appear in describe(), a message or a log line (see s3errors.ts).
//
// Checksums: requestChecksumCalculation / responseChecksumValidation are passed
// through. The SDK default (WHEN_SUPPORTED) suits AWS; stores that mishandle
// aws-chunked uploads (s3rver stores the framing) need WHEN_REQUIRED. Bodies are
// always sent as Buffers, never as streams of unknown length.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { logger, type Logger, WharfError } from '../common/index.js';
import { checkKey, checkListOptions, checkMetadata, checkPrefix, checkRange, throwIfAborted } from './checks.js';
import { mapS3Error, redactor } from './s3errors.js';
import { stripQuotes, uploadMultipart } from './s3multipart.js';
import { emptyStream, guardStream, pieces, sliceStream } from './streams.js';
import type { ByteRange, ListOptions, ListPage, ObjectInfo, PutOptions, PutResult, UnderStore } from './UnderStore.js';

export type ChecksumSetting = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';

export interface S3StoreOptions {
  bucket: string;
  /** e.g. http://127.0.0.1:9000 for an S3-compatible store; AWS when absent. */
  endpoint?: string;
  /** When absent, the SDK's chain (AWS_REGION, profile) decides. */
  region?: string;
  /** Path-style addressing (bucket in the path), which most non-AWS stores need. */
  forcePathStyle?: boolean;
  /** When absent, the SDK's default credential chain is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, the first included (default 4). */
  maxAttempts?: number;
  connectionTimeoutMs?: number;
  /** Until the response headers arrive, upload of the body included (default 60 s). */
  requestTimeoutMs?: number;
  /** Longest silence on a socket, also mid-body (default 30 s). */
  socketTimeoutMs?: number;
  /** Concurrent connections, and so concurrent requests (default 32). */
  maxSockets?: number;
  /** Bodies larger than this go multipart (default 16 MiB). */
  multipartThreshold?: number;
  /** At least 5 MiB, S3's minimum (default 8 MiB). Grown for large known sizes to stay within 10,000 parts. */
  partSize?: number;
  /** Parts in flight per upload (default 4); memory held is about (this + 1) × partSize. */
  partConcurrency?: number;
  requestChecksumCalculation?: ChecksumSetting;
  responseChecksumValidation?: ChecksumSetting;
  log?: Logger;
}

const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MiB;
/** CopyObject's limit; larger objects are copied by streaming get → put. */
const MAX_COPY_OBJECT = 5n * 1024n * 1024n * 1024n;

export class S3Store implements UnderStore {
  readonly putsAreDurable = true;
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly log: Logger;
  private readonly secrets = new Set<string>();
  private readonly redact = redactor(() => this.secrets);
  private readonly threshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly crc32Parts: boolean;
  private readonly location: string;
  private closed = false;

  constructor(private readonly options: S3StoreOptions) {
    this.bucket = options.bucket;
    if (!this.bucket) throw new WharfError('EINVAL', 'S3 bucket name is required');
    this.partSize = options.partSize ?? 8 * MiB;
    if (!Number.isInteger(this.partSize) || this.partSize < MIN_PART_SIZE) throw new WharfError('EINVAL', `partSize must be at least ${MIN_PART_SIZE} bytes`);
    this.threshold = options.multipartThreshold ?? 16 * MiB;
    this.partConcurrency = Math.max(1, options.partConcurrency ?? 4);
    const creds = options.credentials;
    if (creds) for (const s of [creds.secretAccessKey, creds.sessionToken]) if (s) this.secrets.add(s);
    this.location = describeLocation(options.endpoint, this.bucket);
    this.log = (options.log ?? logger('ufs.s3')).child({ store: this.location });
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
    const requestChecksumCalculation = options.requestChecksumCalculation ?? 'WHEN_SUPPORTED';
    this.crc32Parts = requestChecksumCalculation === 'WHEN_SUPPORTED';
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.region ? { region: options.region } : {}),
      ...(creds ? { credentials: creds } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      followRegionRedirects: true,
      maxAttempts: options.maxAttempts ?? 4,
      retryMode: 'standard',
      requestChecksumCalculation,
      responseChecksumValidation: options.responseChecksumValidation ?? 'WHEN_SUPPORTED',
      requestHandler: new NodeHttpHandler({
        connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        requestTimeout: options.requestTimeoutMs ?? 60_000,
        throwOnRequestTimeout: true,
        socketTimeout: options.socketTimeoutMs ?? 30_000,
        httpAgent: new HttpAgent(agentOptions),
        httpsAgent: new HttpsAgent(agentOptions),
      }),
    });
  }

  describe(): string {
    return this.location;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    checkPrefix(prefix);
    const maxKeys = checkListOptions(opts);
    return this.call('list', prefix, opts.signal, async (abortSignal) => {
      const r = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(opts.delimiter ? { Delimiter: opts.delimiter } : {}),
        ...(opts.token ? { ContinuationToken: opts.token } : {}),
        MaxKeys: maxKeys,
      }), { abortSignal });
      const page: ListPage = {
        objects: (r.Contents ?? []).filter((c) => c.Key !== undefined).map((c) => ({
          key: c.Key!, size: BigInt(c.Size ?? 0), etag: stripQuotes(c.ETag), mtimeMs: c.LastModified?.getTime() ?? 0,
        })),
        prefixes: (r.CommonPrefixes ?? []).flatMap((p) => (p.Prefix !== undefined ? [p.Prefix] : [])),
      };
      if (r.IsTruncated && r.NextContinuationToken) page.nextToken = r.NextContinuationToken;
      return page;
    });
  }

  async head(key: string, opts: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    checkKey(key);
    try {
      return await this.call('head', key, opts.signal, async (abortSignal) => {
        const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
        const info: ObjectInfo = { key, size: BigInt(r.ContentLength ?? 0), etag: stripQuotes(r.ETag), mtimeMs: r.LastModified?.getTime() ?? 0 };
        info.metadata = lowerCaseNames(r.Metadata ?? {});
        return info;
      }, ['ENOENT']);
    } catch (e) {
      if (e instanceof WharfError && e.errno === 'ENOENT') return undefined;
      throw e;
    }
  }

  async get(key: string, range?: ByteRange, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    checkKey(key);
    checkRange(range);
    const header = range && (range.start > 0n || range.end !== undefined) ? `bytes=${range.start}-${range.end ?? ''}` : undefined;
    try {
      return await this.call('get', key, opts.signal, async (abortSignal) => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(header ? { Range: header } : {}) }), { abortSignal });
        if (!(r.Body instanceof Readable)) throw new WharfError('EIO', `get ${key}: the response has no readable body`);
        const body = guardStream(r.Body, (e) => mapS3Error(e, 'get', this.target(key), this.redact), opts.signal);
        return header ? fitRange(body, range!, r.ContentRange, r.ContentLength, key) : body;
      }, ['ENOENT', 'EINVAL']);
    } catch (e) {
      // 416: the range starts at or past the end. The contract is an empty stream.
      if (e instanceof WharfError && range !== undefined && (e.cause as { status?: number } | undefined)?.status === 416) return emptyStream();
      throw e;
    }
  }

  async put(key: string, body: Readable | Buffer, opts: PutOptions = {}): Promise<PutResult> {
    checkKey(key);
    const metadata = checkMetadata(opts.metadata);
    return this.call('put', key, opts.signal, async (abortSignal) => {
      const partSize = this.partSizeFor(opts.size);
      const gen = pieces(body, partSize);
      // Read up to the threshold: a body that ends by then goes in one request.
      const head: Buffer[] = [];
      let held = 0;
      let ended = false;
      while (held <= this.threshold) {
        throwIfAborted(abortSignal, 'put');
        const next = await gen.next();
        if (next.done) { ended = true; break; }
        head.push(next.value);
        held += next.value.length;
      }
      if (ended) {
        const data = head.length === 1 ? head[0]! : Buffer.concat(head, held);
        checkSize(key, BigInt(data.length), opts.size);
        const r = await this.client.send(new PutObjectCommand({
          Bucket: this.bucket, Key: key, Body: data, ContentLength: data.length, ...(metadata ? { Metadata: metadata } : {}),
        }), { abortSignal });
        return { etag: stripQuotes(r.ETag) };
      }
      async function* all(): AsyncGenerator<Buffer> {
        yield* head.splice(0);
        yield* gen;
      }
      // A wrong total is caught before CompleteMultipartUpload, so the old object stays.
      const { etag } = await uploadMultipart({
        client: this.client, bucket: this.bucket, key, parts: all(), concurrency: this.partConcurrency,
        metadata, crc32: this.crc32Parts, signal: abortSignal, log: this.log,
        checkTotal: (size) => checkSize(key, size, opts.size),
      });
      return { etag };
    });
  }

  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(key);
    try {
      await this.call('delete', key, opts.signal, async (abortSignal) => {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal });
      }, ['ENOENT']);
    } catch (e) {
      if (e instanceof WharfError && e.errno === 'ENOENT') return;
      throw e;
    }
  }

  async copy(srcKey: string, dstKey: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(srcKey, 'source key');
    checkKey(dstKey, 'destination key');
    const src = await this.head(srcKey, opts);
    if (!src) throw new WharfError('ENOENT', `copy: no object ${this.target(srcKey)}`);
    if (src.size > MAX_COPY_OBJECT) {
      const body = await this.get(srcKey, undefined, opts);
      await this.put(dstKey, body, { size: src.size, ...(src.metadata ? { metadata: src.metadata } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      return;
    }
    await this.call('copy', `${srcKey} -> ${dstKey}`, opts.signal, async (abortSignal) => {
      await this.client.send(new CopyObjectCommand({
        Bucket: this.bucket, Key: dstKey, CopySource: copySource(this.bucket, srcKey), MetadataDirective: 'COPY',
      }), { abortSignal });
    });
  }

  private target(key: string): string {
    return `${this.location}/${key}`;
  }

  /** Larger parts for large known sizes, so an upload never needs more than 10,000 parts. */
  private partSizeFor(size: bigint | undefined): number {
    if (size === undefined) return this.partSize;
    const needed = Number((size + 9_999n) / 10_000n);
    return Math.max(this.partSize, Math.ceil(needed / MiB) * MiB);
  }

  /**
   * Runs one store operation: fails fast when closed or aborted, and maps every
   * failure to a WharfError. Failures other than `quiet` ones are logged once,
   * without credentials.
   */
  private async call<T>(op: string, key: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal | undefined) => Promise<T>, quiet: string[] = []): Promise<T> {
    if (this.closed) throw new WharfError('EIO', `${op}: ${this.location} is closed`);
    throwIfAborted(signal, op);
    try {
      return await fn(signal);
    } catch (e) {
      await this.learnSecrets();
      const err = mapS3Error(e, op, this.target(key), this.redact);
      if (!quiet.includes(err.errno) && err.errno !== 'EINTR') this.log.warn({ op, key, errno: err.errno }, this.redact(err.message));
      throw err;
    }
  }

  /** Credentials from the default chain are only known once resolved; redact those too. */
  private async learnSecrets(): Promise<void> {
    if (this.options.credentials) return;
    try {
      const c = await this.client.config.credentials();
      this.secrets.add(c.secretAccessKey);
      if (c.sessionToken) this.secrets.add(c.sessionToken);
    } catch {
      // No credentials resolved: nothing to redact.
    }
  }
}

/**
 * Holds the server to the requested range: a 200 (Range ignored) or a wider 206
 * is cut down to what was asked; a range starting after the asked start is EIO.
 */
function fitRange(body: Readable, range: ByteRange, contentRange: string | undefined, contentLength: number | undefined, key: string): Readable {
  const m = contentRange === undefined ? undefined : /^bytes (\d+)-(\d+)\//.exec(contentRange);
  const gotStart = m ? BigInt(m[1]!) : 0n;
  if (gotStart > range.start) {
    body.destroy();
    throw new WharfError('EIO', `get ${JSON.stringify(key)}: the store answered bytes from ${gotStart}, not ${range.start}`);
  }
  const skip = range.start - gotStart;
  const want = range.end === undefined ? undefined : range.end - range.start + 1n;
  const got = contentLength === undefined ? undefined : BigInt(contentLength) - skip;
  if (skip === 0n && (want === undefined || (got !== undefined && got <= want))) return body;
  return sliceStream(body, skip, want);
}

function checkSize(key: string, actual: bigint, expected: bigint | undefined): void {
  if (expected !== undefined && actual !== expected) throw new WharfError('EIO', `put ${JSON.stringify(key)}: body has ${actual} bytes, expected ${expected}`);
}

function lowerCaseNames(meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) out[k.toLowerCase()] = v;
  return out;
}

/** CopySource is "bucket/key", URL-encoded per segment. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** s3://bucket on AWS, or the path-style URL of the bucket elsewhere — never with user info. */
function describeLocation(endpoint: string | undefined, bucket: string): string {
  if (!endpoint) return `s3://${bucket}`;
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}/${bucket}`;
  } catch {
    throw new WharfError('EINVAL', 'S3 endpoint is not a URL');
  }
}
