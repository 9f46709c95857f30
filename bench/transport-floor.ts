// Bench phase: the CPU cost of moving one image over one gRPC hop on this machine, with nothing else
// done to it: grpc-js on both ends in this process, loopback HTTP/2, bytes passed through without
// protobuf, a tiny answer per image. End to end, every image crosses two such hops (station ->
// coordinator -> worker), so on one host the best end-to-end ratio is limit / (limit + 2 x this).
import { bindServer, channelOptions, grpc } from '../common/src/adapters/grpc-services.js';

const passThrough = (bytes: Buffer) => bytes;
const PIPE = {
  Pipe: {
    path: '/quicksilver.bench.TransportFloor/Pipe', requestStream: true, responseStream: true,
    requestSerialize: passThrough, requestDeserialize: passThrough, responseSerialize: passThrough, responseDeserialize: passThrough,
  },
} satisfies grpc.ServiceDefinition;

export interface TransportFloor {
  images: number;
  meanBytes: number;
  /** Sender + receiver CPU per image, kernel included. */
  cpuMsPerImage: number;
  imagesPerSecond: number;
}

export async function measureTransportFloor(images: Buffer[], total: number, inFlight = 8): Promise<TransportFloor> {
  const server = new grpc.Server(channelOptions);
  server.addService(PIPE, {
    Pipe: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', () => call.write(Buffer.from([1])));
      call.on('end', () => call.end());
    },
  });
  const port = await bindServer(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
  const Client = grpc.makeGenericClientConstructor(PIPE, 'TransportFloor');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
  const call = client.Pipe() as grpc.ClientDuplexStream<Buffer, Buffer>;
  try {
    const send = async (count: number) => {
      let sent = 0;
      let answered = 0;
      await new Promise<void>((resolve, reject) => {
        const pump = () => {
          while (sent < count && sent - answered < inFlight) {
            if (!call.write(images[sent++ % images.length]!)) return void call.once('drain', pump);
          }
        };
        const onData = () => {
          if (++answered === count) {
            call.off('data', onData);
            resolve();
          } else pump();
        };
        call.on('data', onData);
        call.once('error', reject);
        pump();
      });
    };
    await send(Math.min(total, 16)); // connection and buffers warm
    const cpu = process.cpuUsage();
    const started = performance.now();
    await send(total);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      images: total,
      meanBytes: Math.round(images.reduce((a, b) => a + b.length, 0) / images.length),
      cpuMsPerImage: (used.user + used.system) / 1000 / total,
      imagesPerSecond: total / seconds,
    };
  } finally {
    call.end();
    client.close();
    server.forceShutdown();
  }
}
