/**
 * A locked-down namespace: NamespaceSecurity (STRICT mTLS, deny by default, DNS and
 * istiod opened once for every pod), two services where `web` may call two routes of
 * `catalog`, an EdgeGateway exposing `web` with a JWT required on one route, and a
 * WorkloadAccess guarding a workload that is not a MeshedService (a plain cdk8s-plus
 * Deployment) so only `catalog` may reach it.
 * Run it with `npx tsx examples/secure-namespace/main.ts` (writes dist/secure-namespace/).
 */
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { EdgeGateway, MeshedService, NamespaceSecurity, Route, WorkloadAccess } from 'meshkit';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'dist/secure-namespace' });
const chart = new Chart(app, 'storefront', { namespace: 'storefront' });

new NamespaceSecurity(chart, 'security', { namespace: 'storefront' });

// Routes are objects: grants and exposures reference them, so a typo does not compile.
const login = Route.write('POST', '/sessions');
const listProducts = Route.read('/products');
const getProduct = Route.read('/products/{id}');
const home = Route.read('/');
const addToCart = Route.write('POST', '/cart');

const accounts = new MeshedService(chart, 'accounts', {
  image: 'example/accounts:1.0',
  routes: [Route.read('/.well-known/jwks.json'), login],
});
const catalog = new MeshedService(chart, 'catalog', {
  image: 'example/catalog:1.0',
  routes: [listProducts, getProduct, Route.write('POST', '/products')],
});
const web = new MeshedService(chart, 'web', {
  image: 'example/web:1.0',
  routes: [home, addToCart],
});

// Both walls at once: AuthorizationPolicy (principal, method, path) and NetworkPolicy (pods, port).
catalog.allowFrom(web, [listProducts, getProduct]);

const edge = new EdgeGateway(chart, 'edge', {
  jwt: { issuer: 'https://accounts.example.com', audiences: ['storefront'], jwksService: accounts },
});
edge.expose(web, [home], { requireJwt: false });
edge.expose(web, [addToCart], { requireJwt: true });
edge.expose(accounts, [login], { requireJwt: false });

// A workload meshkit did not create, guarded the same way.
const labels = { app: 'recommender' };
const recommender = new kplus.Deployment(chart, 'recommender', {
  metadata: { name: 'recommender' },
  podMetadata: { labels },
  containers: [{ image: 'example/recommender:1.0', portNumber: 8080, securityContext: { user: 10001, group: 10001 } }],
});
recommender.exposeViaService({ name: 'recommender', ports: [{ name: 'http', port: 8080 }] });
const access = new WorkloadAccess(chart, 'recommender-access', {
  name: 'recommender',
  workload: { principal: 'cluster.local/ns/storefront/sa/default', namespace: 'storefront', podLabels: labels, displayName: 'recommender' },
});
access.allow({ from: catalog.peer, port: 8080 });
catalog.access.allowEgress({ to: access.workload, ports: [{ port: 8080 }] });

app.synth();
