// The raw node:http2 Check client (bench/lib/h2-client.ts) reads every answer as the grpc-js
// client does: allow, a denial reason, a gRPC error by name, its own deadline.
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadEnvoyAuthProto,
  type CheckRequestMessage,
  type CheckResponseMessage,
} from '../../authz-server/envoy-proto.js';
import { denied } from '../../bench/lib/baseline-server.js';
import { connectClient, CHECK_CLIENTS } from '../../bench/lib/h2-client.js';
import { ARTIFACT_HEADER } from '../../core/protocol.js';
import { checkRequest, type RequestShape } from '../../devkit/check-request.js';

const shape: RequestShape = {
  principal: undefined,
  method: 'GET',
  path: '/',
  host: 'app',
  contextExtensions: {},
};

/** Answers by the artifact header: allow, deny, fail, or never (past any deadline). */
let server: Server;
let address: string;
beforeAll(async () => {
  server = new Server();
  server.addService(loadEnvoyAuthProto().service, {
    Check(
      call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>,
      callback: sendUnaryData<CheckResponseMessage>,
    ) {
      const header = call.request.attributes?.request?.http?.headers?.[ARTIFACT_HEADER];
      if (header === 'allow') return callback(null, { status: { code: 0, message: '' } });
      if (header === 'deny') return callback(null, denied('artifact.replayed'));
      if (header === 'bare') return callback(null, { status: { code: 7, message: '' } });
      if (header === 'fail') return callback({ code: status.UNAVAILABLE, details: 'down' });
      setTimeout(() => callback(null, { status: { code: 0, message: '' } }), 600);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  address = `127.0.0.1:${port}`;
});
afterAll(() => server.forceShutdown());

describe.each(CHECK_CLIENTS)('%s Check client', (kind) => {
  it('reads allows, denial reasons, errors and its deadline alike', async () => {
    const client = connectClient(kind, address, 2);
    try {
      const check = (artifact: string, prepared = false) => {
        const request = checkRequest(shape, 'id', artifact);
        return client.check(prepared && client.prepare ? client.prepare(request) : request, 250);
      };
      expect(await check('allow')).toBe('allow');
      expect(await check('allow', true)).toBe('allow');
      expect(await check('deny', true)).toBe('artifact.replayed');
      expect(await check('bare')).toBe('status-7');
      expect(await check('fail')).toBe('error:UNAVAILABLE');
      expect(await check('slow')).toBe('error:DEADLINE_EXCEEDED');
      expect(await check('allow')).toBe('allow');
    } finally {
      client.close();
    }
  });
});
