// gRPC server reflection on the Check port: served by default (grpcurl works), off with
// grpc.reflection: false for a hardened deployment.
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { listServices } from '../support/reflection.js';
import { startHarness, type Harness } from './support/harness.js';

describe('gRPC server reflection', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('lists the Authorization service by default', async () => {
    h = await startHarness();
    const answer = await listServices(h.grpcPort);
    expect(Buffer.isBuffer(answer) && answer.toString('latin1')).toContain(
      'envoy.service.auth.v3.Authorization',
    );
  });

  it('is not served with grpc.reflection: false', async () => {
    h = await startHarness({ config: { grpc: { host: '127.0.0.1', port: 0, reflection: false } } });
    expect(await listServices(h.grpcPort)).toBe(status.UNIMPLEMENTED);
  });
});
