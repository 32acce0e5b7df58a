// A gRPC server reflection call (grpcurl's first question), without loading the reflection protos.
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';

/** ServerReflectionRequest { list_services: "" } (field 7), by hand: the reflection protos are not loaded here. */
const LIST_SERVICES = Buffer.from([0x3a, 0x00]);

/** Asks for the service list; resolves with the response's bytes or the gRPC status code. */
export function listServices(port: number): Promise<Buffer | number> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise<Buffer | number>((resolve) => {
    const call = client.makeBidiStreamRequest(
      '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      (b: Buffer) => b,
      (b: Buffer) => b,
      new Metadata(),
      { deadline: Date.now() + 3000 },
    );
    call.on('data', (bytes: Buffer) => {
      resolve(bytes);
      call.cancel();
    });
    call.on('error', (e: ServiceError) => resolve(e.code));
    call.write(LIST_SERVICES);
    call.end();
  }).finally(() => client.close());
}
