import { describe, expect, it } from 'vitest';
import { checkTarget, TargetNotAllowedError } from '../../load/targets.js';

describe('the load generator’s target guard', () => {
  it('accepts loopback addresses and connects to localhost over IPv4 (where kind maps its ports)', () => {
    expect(checkTarget('http://localhost:8080')).toMatchObject({ connectHost: '127.0.0.1', port: 8080, kind: 'loopback' });
    expect(checkTarget('http://127.0.0.1:34567/')).toMatchObject({ connectHost: '127.0.0.1', port: 34567, kind: 'loopback' });
    expect(checkTarget('http://127.42.0.9')).toMatchObject({ connectHost: '127.42.0.9', port: 80, kind: 'loopback' });
    expect(checkTarget('http://[::1]:9000')).toMatchObject({ connectHost: '::1', port: 9000, kind: 'loopback' });
  });

  it('accepts in-cluster Service names (for a load run inside the cluster)', () => {
    expect(checkTarget('http://istio-ingressgateway.istio-system.svc.cluster.local')).toMatchObject({ kind: 'in-cluster', port: 80 });
    expect(checkTarget('http://product.shop.svc:8080')).toMatchObject({ kind: 'in-cluster', connectHost: 'product.shop.svc' });
  });

  it('refuses everything else, naming the host and what is allowed', () => {
    for (const url of [
      'http://example.com',
      'http://10.0.0.5:8080',
      'http://192.168.1.10',
      'http://8.8.8.8',
      'http://shop.svc.example.com',
      'http://[::2]:80',
      'http://localhost.evil.com',
    ]) {
      expect(() => checkTarget(url), url).toThrow(TargetNotAllowedError);
    }
    expect(() => checkTarget('http://example.com')).toThrow(
      'refusing to load http://example.com: example.com is neither loopback nor an in-cluster Service name. The load generator (chaos and bench) only targets loopback',
    );
  });

  it('refuses other schemes, credentials in the URL and what is not a URL', () => {
    expect(() => checkTarget('https://localhost:8443')).toThrow('only http: is supported (got https:)');
    expect(() => checkTarget('http://user:secret@localhost:8080')).toThrow('credentials in the URL are not supported');
    expect(() => checkTarget('localhost:8080/x')).toThrow(TargetNotAllowedError);
    expect(() => checkTarget('not a url')).toThrow('it is not a URL');
  });
});
