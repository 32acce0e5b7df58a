// The two baselines every Check figure is compared with, each run as its own process so that its
// CPU is measured apart from the load generator's:
//   noop          answers OK to everything: the cost of grpc-js and the Check protobufs alone.
//   crypto-floor  the least any enforcement point must do per Check: read the artifact header,
//                 base64url-decode it, parse it as strict canonical JSON, re-serialize the signed
//                 payload and verify its one Ed25519 signature. No schema checks, no hashes, no
//                 state, no ledger.
// Usage: baseline-server.ts <noop|crypto-floor> [<kid>=<base64url raw Ed25519 public key>]
// Prints {"port":N} on stdout once listening on 127.0.0.1; exits on SIGTERM or when stdin closes.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { LIMITS, payloadOf, type Artifact } from '../../core/artifact.js';
import { ARTIFACT_HEADER } from '../../core/protocol.js';
import { canonicalBytes, parseCanonical, type JsonValue } from '../../core/canonical.js';
import { nodeCrypto } from '../../core/crypto-node.js';
import { base64urlDecode } from '../../core/encoding.js';
import type { DenialReason } from '../../core/errors.js';
import {
  loadEnvoyAuthProto,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from '../../authz-server/envoy-proto.js';
import { DENIED_HEADER } from '../../core/protocol.js';

export const BASELINES = ['noop', 'crypto-floor'] as const;
export type Baseline = (typeof BASELINES)[number];

// The options authz-server/server.ts constructs its grpc-js Server with (keep in step).
const GRPC_SERVER_OPTIONS = { 'grpc.max_receive_message_length': 4 * 1024 * 1024 };

const ALLOWED: CheckResponseMessage = {
  status: { code: 0, message: '' },
  ok_response: { headers: [], headers_to_remove: [] },
};

/** A denial as the enforcement point answers it: PERMISSION_DENIED, its reason in DENIED_HEADER. */
export function denied(reason: DenialReason): CheckResponseMessage {
  return {
    status: { code: 7, message: reason },
    denied_response: {
      status: { code: reason === 'artifact.missing' ? 401 : 403 },
      headers: [{ header: { key: DENIED_HEADER, value: reason }, append_action: 2 }],
      body: '',
    },
  };
}

/** The crypto floor's whole decision: undefined allows. */
export function cryptoFloorDenial(
  header: string | undefined,
  trusted: ReadonlyMap<string, Uint8Array>,
): DenialReason | undefined {
  if (header === undefined || header === '') return 'artifact.missing';
  if (header.length > LIMITS.headerChars) return 'artifact.malformed';
  const bytes = base64urlDecode(header);
  if (bytes === undefined) return 'artifact.malformed';
  let root: JsonValue;
  try {
    root = parseCanonical(bytes);
  } catch {
    return 'artifact.malformed';
  }
  if (root === null || typeof root !== 'object' || Array.isArray(root)) return 'artifact.malformed';
  const artifact = root as unknown as Artifact;
  const kid = artifact.sig?.kid;
  const signature = typeof artifact.sig?.val === 'string' ? base64urlDecode(artifact.sig.val) : undefined;
  const key = typeof kid === 'string' ? trusted.get(kid) : undefined;
  if (key === undefined || signature === undefined) return 'artifact.signature.invalid';
  const signed = canonicalBytes(payloadOf(artifact));
  return nodeCrypto.verifyEd25519(key, signed, signature) ? undefined : 'artifact.signature.invalid';
}

function decide(baseline: Baseline, trusted: ReadonlyMap<string, Uint8Array>) {
  return (request: CheckRequestMessage): CheckResponseMessage => {
    if (baseline === 'noop') return ALLOWED;
    const reason = cryptoFloorDenial(request.attributes?.request?.http?.headers?.[ARTIFACT_HEADER], trusted);
    return reason === undefined ? ALLOWED : denied(reason);
  };
}

async function main(args: string[]): Promise<void> {
  const [baseline, ...keyArgs] = args;
  if (!BASELINES.includes(baseline as Baseline))
    throw new Error(`baseline must be one of ${BASELINES.join(', ')}`);
  const trusted = new Map<string, Uint8Array>();
  for (const arg of keyArgs) {
    const at = arg.lastIndexOf('=');
    const key = base64urlDecode(arg.slice(at + 1));
    if (at <= 0 || key === undefined)
      throw new Error(`trusted key must be <kid>=<base64url key>, got ${arg}`);
    trusted.set(arg.slice(0, at), key);
  }
  const check = decide(baseline as Baseline, trusted);
  const server = new Server(GRPC_SERVER_OPTIONS);
  server.addService(loadEnvoyAuthProto().service, {
    Check(
      call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>,
      callback: sendUnaryData<CheckResponseMessage>,
    ) {
      callback(null, check(call.request));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const stop = () => {
    setTimeout(() => server.forceShutdown(), 2000).unref();
    server.tryShutdown(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  // The parent holds our stdin: when it goes away, so do we.
  process.stdin.once('close', stop).resume();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
