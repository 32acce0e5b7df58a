// gRPC server reflection on the authority's port: served by default, off with
// grpc.reflection: false. Reflection never calls the authority, so none is needed here.
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { Authority } from '../../authority/authority.js';
import { startGrpcServer } from '../../authority/grpc.js';
import { TokenTable } from '../../authority/identity.js';
import { listServices } from '../support/reflection.js';

async function answerWith(reflection: boolean | undefined): Promise<Buffer | number> {
  const server = await startGrpcServer({} as Authority, {
    host: '127.0.0.1',
    port: 0,
    identity: { tokens: new TokenTable([]), trustDomains: [] },
    ...(reflection === undefined ? {} : { reflection }),
  });
  try {
    return await listServices(server.port);
  } finally {
    await server.close();
  }
}

describe("the authority's gRPC server reflection", () => {
  it('lists its services by default', async () => {
    const answer = await answerWith(undefined);
    expect(Buffer.isBuffer(answer) && answer.toString('latin1')).toContain('governance.v1');
  });

  it('is not served with reflection: false', async () => {
    expect(await answerWith(false)).toBe(status.UNIMPLEMENTED);
  });
});
