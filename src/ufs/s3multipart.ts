// Multipart upload with bounded memory: parts are read one at a time from the
// body and at most `concurrency` are in flight, so at most (concurrency + 1)
// parts are held. On any failure the in-flight parts are cancelled and the
// upload is aborted (best effort: some stores, s3rver among them, refuse
// AbortMultipartUpload; real S3 also reaps them with a lifecycle rule).
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand,
  type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3';
import { WharfError, type Logger } from '../common/index.js';

/** S3's limit on the number of parts. */
export const MAX_PARTS = 10_000;

export interface MultipartJob {
  client: S3Client;
  bucket: string;
  key: string;
  parts: AsyncIterable<Buffer>;
  concurrency: number;
  metadata: Record<string, string> | undefined;
  /** Send and record CRC32 part checksums (when the client computes checksums). */
  crc32: boolean;
  signal: AbortSignal | undefined;
  log: Logger;
  /** Called with the total size before completing; throwing aborts the upload. */
  checkTotal: (size: bigint) => void;
}

export async function uploadMultipart(job: MultipartJob): Promise<{ etag: string; size: bigint }> {
  const { client, bucket, key } = job;
  const created = await client.send(new CreateMultipartUploadCommand({
    Bucket: bucket, Key: key, Metadata: job.metadata, ...(job.crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
  }), { abortSignal: job.signal });
  const uploadId = created.UploadId;
  if (!uploadId) throw new WharfError('EIO', `multipart upload of ${JSON.stringify(key)}: the store returned no upload id`);
  const cancel = new AbortController();
  const signal = job.signal ? AbortSignal.any([job.signal, cancel.signal]) : cancel.signal;
  const inflight = new Set<Promise<void>>();
  const done: CompletedPart[] = [];
  let failure: unknown;
  let size = 0n;
  try {
    let partNumber = 0;
    for await (const piece of job.parts) {
      if (failure !== undefined || signal.aborted) break;
      if (++partNumber > MAX_PARTS) throw new WharfError('EFBIG', `upload of ${JSON.stringify(key)} needs more than ${MAX_PARTS} parts; raise the part size`);
      size += BigInt(piece.length);
      const n = partNumber;
      const p: Promise<void> = client.send(new UploadPartCommand({
        Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: piece, ContentLength: piece.length,
        ...(job.crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
      }), { abortSignal: signal }).then(
        (r) => { done.push({ PartNumber: n, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) }); },
        (e: unknown) => { failure ??= e; cancel.abort(); },
      ).finally(() => { inflight.delete(p); });
      inflight.add(p);
      if (inflight.size >= job.concurrency) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure !== undefined) throw failure;
    if (job.signal?.aborted) throw new WharfError('EINTR', `upload of ${JSON.stringify(key)}: aborted`);
    job.checkTotal(size);
    done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const completed = await client.send(new CompleteMultipartUploadCommand({
      Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: done },
    }), { abortSignal: job.signal });
    job.log.debug({ key, parts: done.length, size: size.toString() }, 'multipart upload complete');
    return { etag: stripQuotes(completed.ETag), size };
  } catch (e) {
    cancel.abort();
    await Promise.allSettled(inflight);
    try {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    } catch (abortErr) {
      job.log.debug({ key, error: (abortErr as Error).name }, 'could not abort a failed multipart upload; the store will reap it');
    }
    throw failure ?? e;
  }
}

export function stripQuotes(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}
