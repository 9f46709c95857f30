// The HTTP/2 flow-control window every Quicksilver server advertises (bindServer): without it grpc-js
// servers keep Node's 64 KiB window and each image chunk waits for WINDOW_UPDATE round trips.
import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { GrpcServer } from '../../common/src/adapters/grpc-server.js';
import { channelOptions, HTTP2_WINDOW_BYTES } from '../../common/src/adapters/grpc-services.js';
import { createLogger } from '../../common/src/logger.js';
import { until } from '../helpers/cluster.js';

describe('gRPC HTTP/2 flow control', { timeout: 30_000 }, () => {
  let server: GrpcServer;
  let session: ClientHttp2Session | undefined;
  before(async () => {
    server = new GrpcServer({ address: '127.0.0.1:0', logger: createLogger({ level: 'silent', name: 'test' }), serviceNames: [] });
    await server.start();
  });
  after(async () => {
    session?.destroy();
    await server.stop(AbortSignal.timeout(1000));
  });

  it('servers advertise the wide stream window and open the connection window; clients ask for the same', async () => {
    assert.equal(HTTP2_WINDOW_BYTES > 65_535, true);
    assert.equal(channelOptions['grpc-node.flow_control_window'], HTTP2_WINDOW_BYTES);
    const client = connect(`http://127.0.0.1:${server.port}`);
    session = client;
    client.on('error', () => {});
    await until(() => client.remoteSettings?.initialWindowSize === HTTP2_WINDOW_BYTES, 5000, 'the server\'s stream window in its SETTINGS');
    // What this client may send on the connection before the server has to answer with WINDOW_UPDATE.
    await until(() => client.state.remoteWindowSize === HTTP2_WINDOW_BYTES, 5000, 'the server\'s connection window');
  });
});
