import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { MeshedService } from '../../constructs/meshed-service.js';
import { Callers } from '../../mesh/callers.js';
import { EdgeGateway } from '../../mesh/edge-gateway.js';
import { Route } from '../../mesh/route.js';
import { find, synth } from '../support/manifests.js';

function storefront() {
  const chart = new Chart(Testing.app(), 'storefront', { namespace: 'storefront' });
  const accounts = new MeshedService(chart, 'accounts', {
    image: 'example/accounts:1.0',
    callers: Callers.none(),
    routes: [Route.read('/.well-known/jwks.json')],
  });
  const web = new MeshedService(chart, 'web', { image: 'example/web:1.0', routes: [Route.read('/')] });
  const edge = new EdgeGateway(chart, 'edge', { jwt: { issuer: 'https://accounts.example.com', audiences: ['storefront'], jwksService: accounts } });
  return { chart, web, edge };
}

describe('EdgeGateway', () => {
  it('renders the operations exposed so far when synthesized, routes and JWT requirement alike', () => {
    const { chart, web, edge } = storefront();
    edge.expose(web, [web.routes[0]!], { requireJwt: false });
    const cart = Route.write('POST', '/cart');
    web.addRoute(cart);
    edge.expose(web, [cart], { requireJwt: true });

    expect(edge.exposed.map((e) => `${e.service.name} ${e.route.description} ${e.requireJwt}`)).toEqual(['web GET|HEAD / false', 'web POST /cart true']);
    const manifests = synth(chart);
    const routes = find(manifests, 'VirtualService', 'edge').spec.http;
    expect(routes.map((r: { name: string }) => r.name)).toEqual(['web-get', 'web-post-cart']);
    expect(routes[1]).toMatchObject({
      match: [{ method: { exact: 'POST' }, uri: { exact: '/cart' } }],
      route: [{ destination: { host: 'web.storefront.svc.cluster.local', port: { number: 8080 }, subset: 'v1' } }],
      timeout: '3s',
      retries: { attempts: 2, retryOn: 'connect-failure,refused-stream,reset-before-request' },
    });
    expect(find(manifests, 'AuthorizationPolicy', 'edge-require-jwt').spec.rules[0].to).toEqual([{ operation: { methods: ['POST'], paths: ['/cart'] } }]);
  });

  it('refuses to expose a route the service does not declare', () => {
    const { web, edge } = storefront();
    expect(() => edge.expose(web, [Route.read('/admin')], { requireJwt: true })).toThrow(
      "MeshedService 'web': allowFrom(ingress gateway) names routes the service does not declare (GET|HEAD /admin)",
    );
    expect(edge.exposed).toEqual([]);
  });
});
