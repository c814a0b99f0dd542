import { isIP } from 'node:net';

/** Raised for a base URL the load generator refuses to send traffic to. */
export class TargetNotAllowedError extends Error {
  constructor(url: string, why: string) {
    super(
      `refusing to load ${url}: ${why}. The load generator (chaos and bench) only targets loopback (the kind ` +
        `gateway at http://localhost:8080, a local shop on 127.0.0.1) or in-cluster Service names (*.svc, *.svc.cluster.local)`,
    );
    this.name = 'TargetNotAllowedError';
  }
}

function isLoopbackIp(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return address.split('.')[0] === '127';
  if (version === 6) return /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(address) || /^::ffff:127\./i.test(address);
  return false;
}

export interface AllowedTarget {
  /** The URL as given, normalized. */
  readonly url: URL;
  /** What to connect to: `localhost` becomes 127.0.0.1 (kind maps its ports on IPv4; Node may resolve localhost to ::1 first). */
  readonly connectHost: string;
  readonly port: number;
  readonly kind: 'loopback' | 'in-cluster';
}

/**
 * Checks that `baseUrl` is loopback (127.0.0.0/8, ::1, localhost) or an in-cluster Service
 * name, over plain HTTP. Anything else throws TargetNotAllowedError: the load of chaos runs
 * and benchmarks must never leave this machine or the cluster.
 */
export function checkTarget(baseUrl: string): AllowedTarget {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TargetNotAllowedError(baseUrl, 'it is not a URL');
  }
  if (url.protocol !== 'http:') throw new TargetNotAllowedError(baseUrl, `only http: is supported (got ${url.protocol})`);
  if (url.username || url.password) throw new TargetNotAllowedError(baseUrl, 'credentials in the URL are not supported');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port ? Number(url.port) : 80;
  if (host === 'localhost') return { url, connectHost: '127.0.0.1', port, kind: 'loopback' };
  if (isLoopbackIp(host)) return { url, connectHost: host, port, kind: 'loopback' };
  if (isIP(host) === 0 && /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+svc(\.cluster\.local)?$/.test(host)) return { url, connectHost: host, port, kind: 'in-cluster' };
  throw new TargetNotAllowedError(baseUrl, `${host} is neither loopback nor an in-cluster Service name`);
}
