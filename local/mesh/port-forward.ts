/**
 * localhost:<port> to a pod's address, as kind's extraPortMappings bring the ingress gateway's
 * port to the laptop: a TCP relay in this process, one upstream connection per client connection.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface PortForward {
  /** The local port (the one asked for, or the one chosen for 0). */
  readonly port: number;
  /** Retargets new connections (a replaced gateway pod has a new address). */
  retarget(host: string, port: number): void;
  close(): Promise<void>;
}

export async function forwardPort(localPort: number, target: { host: string; port: number }, bindHost = '127.0.0.1'): Promise<PortForward> {
  let current = { ...target };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(current);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' ? new Error(`${bindHost}:${localPort} is in use (another shop's edge or gateway?): free it or pick another port`) : error,
      ),
    );
    server.listen(localPort, bindHost, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    retarget(host, port) {
      current = { host, port };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
