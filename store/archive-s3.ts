// The ledger archive in an S3 bucket (AWS S3, or any S3-compatible store: MinIO, Ceph, …), one
// object per path under an optional key prefix. Full tiles, bundles and the checkpoint history are
// sent with `Cache-Control: public, max-age=31536000, immutable`, mutable objects with `no-cache`,
// so that a CDN in front of the bucket serves the tlog-tiles paths as the spec asks (§7.2).
//
// S3 writes whole objects atomically: a reader sees the old or the new bytes, never a mix. An
// immutable object is created with a conditional write (`If-None-Match: *`, honoured by AWS S3
// since 2024 and by MinIO), which is what keeps two writers from overwriting each other's
// evidence. Servers that ignore it exist (s3rver, the tests' server, does), so putImmutable also
// reads the path first and never writes over an object; the check is exact within one process,
// whose writes to one key go one at a time, and the ledger's single fenced sequencer writes
// deterministic bytes anyway.
//
// Redaction deletes openings: on a bucket with versioning the deleted bytes survive as a
// noncurrent version, so keep openings in an unversioned bucket (or expire noncurrent versions).
// A caller without s3:ListBucket is answered 403 for a missing key, which reads as unavailable.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { bytesEqual, concatBytes } from '../core/encoding.js';
import { GovernanceError } from '../core/errors.js';
import {
  checkArchivePath,
  checkArchivePrefix,
  checkObjectSize,
  DEFAULT_LIST_LIMIT,
  isArchivePath,
  type LedgerArchive,
  type ListOptions,
} from './archive-types.js';

export interface S3LedgerArchiveOptions {
  bucket: string;
  /** Key prefix, e.g. "ledger/prod": objects at "ledger/prod/tile/…" (absent: the bucket's root). */
  prefix?: string | undefined;
  /** Absent: the SDK's default chain (AWS_REGION, the profile). */
  region?: string | undefined;
  /** An S3-compatible service's URL; absent: AWS S3. */
  endpoint?: string | undefined;
  /** Bucket in the path rather than the host name (most S3-compatible services want it). */
  forcePathStyle?: boolean | undefined;
  /** Absent: the SDK's default chain (environment, profile, web identity, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

const OCTETS = 'application/octet-stream';
const IMMUTABLE = 'public, max-age=31536000, immutable';
const MUTABLE = 'no-cache';
/** Conditional-write answers: 412 another writer created the key; 409 one raced ours (S3 asks for a retry). */
const RACED = new Set([409, 412]);
const PUT_ATTEMPTS = 3;
/** S3's rules for bucket names (MinIO's are the same). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const statusOf = (e: unknown) => (e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined);

/** An error's own words: an SDK error's code and message, a socket error's (AggregateError: each's). */
function describe(e: unknown): string {
  if (e instanceof S3ServiceException) return `${e.name} (HTTP ${e.$metadata.httpStatusCode}): ${e.message}`;
  if (e instanceof AggregateError && e.errors.length > 0) return e.errors.map(describe).join('; ');
  if (e instanceof Error) return e.message || ((e as NodeJS.ErrnoException).code ?? e.name);
  return String(e);
}

/** The body, counted as it streams in: no claimed Content-Length makes it buffer past the bound. */
async function readBody(body: AsyncIterable<Uint8Array> | undefined, path: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    size += chunk.byteLength;
    checkObjectSize(path, size); // leaving the loop destroys the stream
    chunks.push(chunk);
  }
  return concatBytes(...chunks);
}

export class S3LedgerArchive implements LedgerArchive {
  readonly location: string;
  private readonly bucket: string;
  private readonly keyPrefix: string;
  private readonly client: S3Client;
  /** The tail of each key's queue of writes from this handle. */
  private readonly writing = new Map<string, Promise<void>>();
  private closed = false;

  /** Validates the options (config.invalid); connects on first use. */
  constructor(options: S3LedgerArchiveOptions) {
    if (!BUCKET_NAME.test(options.bucket))
      throw new GovernanceError(
        'config.invalid',
        `S3 bucket name ${JSON.stringify(options.bucket)} is malformed`,
      );
    const prefix = (options.prefix ?? '').replace(/\/$/, '');
    if (prefix !== '' && !isArchivePath(prefix))
      throw new GovernanceError(
        'config.invalid',
        `S3 key prefix ${JSON.stringify(options.prefix)} is malformed`,
      );
    let origin = '';
    if (options.endpoint !== undefined) {
      try {
        // The origin alone: an endpoint URL may carry user info, never shown.
        origin = ` at ${new URL(options.endpoint).origin}`;
      } catch {
        throw new GovernanceError('config.invalid', 'S3 endpoint is not a URL');
      }
    }
    this.bucket = options.bucket;
    this.keyPrefix = prefix === '' ? '' : `${prefix}/`;
    this.location = `s3://${this.bucket}/${this.keyPrefix}${origin}`;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // Without them a server that accepts a connection and never answers stalls the caller.
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
    });
  }

  // SDK errors can carry the raw response; only their words go into the GovernanceError, so that
  // nothing of a request (a signature, an access key id) reaches a log through `cause`.
  private async guarded<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed)
      throw new GovernanceError('ledger.unavailable', `ledger archive ${this.location}: closed`);
    try {
      return await operation();
    } catch (e) {
      if (e instanceof GovernanceError) throw e;
      throw new GovernanceError('ledger.unavailable', `ledger archive ${this.location}: ${describe(e)}`);
    }
  }

  /** Runs this handle's writes to one key one at a time, in call order. */
  private serialized<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const result = (this.writing.get(key) ?? Promise.resolve()).then(() => this.guarded(operation));
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.writing.set(key, tail);
    void tail.then(() => {
      if (this.writing.get(key) === tail) this.writing.delete(key);
    });
    return result;
  }

  private async read(key: string, path: string): Promise<Uint8Array | undefined> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await readBody(Body as AsyncIterable<Uint8Array> | undefined, path);
    } catch (e) {
      if (e instanceof NoSuchKey) return undefined;
      throw e;
    }
  }

  async putImmutable(path: string, bytes: Uint8Array): Promise<void> {
    checkArchivePath(path);
    checkObjectSize(path, bytes.byteLength);
    const key = this.keyPrefix + path;
    return this.serialized(key, async () => {
      for (let attempt = 1; ; attempt++) {
        const existing = await this.read(key, path);
        if (existing !== undefined) {
          if (bytesEqual(existing, bytes)) return;
          throw new GovernanceError('ledger.archive.conflict', `${path} already holds other bytes`);
        }
        try {
          await this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: bytes,
              ContentType: OCTETS,
              CacheControl: IMMUTABLE,
              IfNoneMatch: '*',
            }),
          );
          return;
        } catch (e) {
          // Created by another writer since the read (or an SDK retry of ours that had landed):
          // read it again and compare.
          if (!RACED.has(statusOf(e) ?? 0) || attempt === PUT_ATTEMPTS) throw e;
        }
      }
    });
  }

  async put(path: string, bytes: Uint8Array): Promise<void> {
    checkArchivePath(path);
    checkObjectSize(path, bytes.byteLength);
    const key = this.keyPrefix + path;
    await this.serialized(key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: OCTETS,
          CacheControl: MUTABLE,
        }),
      ),
    );
  }

  async get(path: string): Promise<Uint8Array | undefined> {
    checkArchivePath(path);
    return this.guarded(() => this.read(this.keyPrefix + path, path));
  }

  // DeleteObject answers 204 whether or not there was an object: HEAD first, to answer the caller.
  async delete(path: string): Promise<boolean> {
    checkArchivePath(path);
    const key = this.keyPrefix + path;
    return this.serialized(key, async () => {
      try {
        await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      } catch (e) {
        if (!(e instanceof NotFound)) throw e;
        // A missing bucket answers HEAD with the same bodiless 404: it must read as unavailable,
        // not as nothing to erase.
        await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
        return false;
      }
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    });
  }

  async list(prefix: string, options: ListOptions = {}): Promise<string[]> {
    checkArchivePrefix(prefix);
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    return this.guarded(async () => {
      const paths: string[] = [];
      let after = options.startAfter ? this.keyPrefix + options.startAfter : undefined;
      while (paths.length < limit) {
        // Whole pages (S3's 1,000 keys) whatever the limit, each after the last key of the one
        // before: s3rver cannot answer a truncated page (its continuation token uses DES, which
        // OpenSSL 3 refuses), so there every list of up to 1,000 keys fits in one page; on S3 a
        // whole page costs one request too.
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.keyPrefix + prefix,
            StartAfter: after,
          }),
        );
        const keys = (page.Contents ?? []).flatMap(({ Key }) => (Key === undefined ? [] : [Key]));
        for (const key of keys) {
          // Another tool's objects in the bucket are no paths of this archive.
          const path = key.slice(this.keyPrefix.length);
          if (isArchivePath(path) && paths.length < limit) paths.push(path);
        }
        if (!page.IsTruncated || keys.length === 0) break;
        after = keys.at(-1);
      }
      return paths;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.destroy();
  }
}
