// A real S3-compatible server for the archive tests, found in this order:
//   1. S3_ENDPOINT and S3_BUCKET, when set (MinIO, AWS S3, …), with the standard
//      AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the SDK's chain) and AWS_REGION (else us-east-1);
//      each caller gets its own key prefix, and removes what it wrote;
//   2. s3rver (npm), started on a free loopback port with its own temp dir.
// s3rver 3.7.1 answers the AWS SDK v3's PutObject, GetObject, HeadObject, HeadBucket,
// DeleteObject and ListObjectsV2 (Prefix, StartAfter, MaxKeys), and differs from S3 in what
// `traits` says, plus continuation tokens (DES, refused by OpenSSL 3: the archive pages with
// StartAfter instead).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3LedgerArchiveOptions } from '../../store/archive-s3.js';

/** What a server guarantees beyond the archive's contract: true, or why not. */
export interface S3Traits {
  /** PutObject with If-None-Match: * fails with 412 over an existing key. */
  conditionalWrites: true | string;
  /** ListObjectsV2 lists keys in byte order. */
  keyOrder: true | string;
  /** A reader sees an object's old or new bytes while it is replaced, never a mix. */
  atomicReplace: true | string;
}

export interface TestS3 {
  source: 'S3_ENDPOINT' | 's3rver';
  /** Options of an archive under a key prefix of its own (call again for another prefix). */
  options(): S3LedgerArchiveOptions;
  traits: S3Traits;
  stop(): Promise<void>;
}

interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

// s3rver is CommonJS without types of its own.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverServer;

const prefix = () => `t${randomBytes(6).toString('hex')}`;

export async function startS3(): Promise<TestS3> {
  const endpoint = process.env.S3_ENDPOINT;
  const bucket = process.env.S3_BUCKET;
  if (endpoint && bucket) {
    return {
      source: 'S3_ENDPOINT',
      options: () => ({
        bucket,
        prefix: `archive-test/${prefix()}`,
        endpoint,
        region: process.env.AWS_REGION ?? 'us-east-1',
        forcePathStyle: true,
      }),
      traits: { conditionalWrites: true, keyOrder: true, atomicReplace: true },
      stop: async () => undefined,
    };
  }
  const directory = mkdtempSync(join(tmpdir(), 'gov-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: 'archive' }],
  });
  const { port } = await server.run();
  return {
    source: 's3rver',
    options: () => ({
      bucket: 'archive',
      prefix: prefix(),
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      // s3rver's one account: it checks every request's signature with it.
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    }),
    traits: {
      conditionalWrites: 's3rver ignores If-None-Match on PutObject',
      keyOrder: "s3rver lists keys in its files' order: 'a/b' before 'a-b' and 'a.b'",
      atomicReplace: 's3rver rewrites an object in place',
    },
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
