import { Chart, Duration, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { MeshedService, type MeshedServiceProps } from '../../constructs/meshed-service.js';
import { Callers } from '../../mesh/callers.js';
import { Route } from '../../mesh/route.js';
import { find, synth } from '../support/manifests.js';

function service(props: Partial<MeshedServiceProps> = {}, id = 'product') {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'shop' });
  new MeshedService(chart, id, { image: 'meshkit/product:dev', callers: Callers.none(), routes: [Route.read('/products')], replicas: 2, ...props });
  return synth(chart);
}

describe('MeshedService', () => {
  it('names the Deployment, Service and ServiceAccount after the construct id, without hashes', () => {
    const manifests = service();
    for (const kind of ['Deployment', 'Service', 'ServiceAccount', 'PodDisruptionBudget', 'VirtualService', 'DestinationRule']) {
      expect(find(manifests, kind, 'product').metadata.namespace).toBe('shop');
    }
    expect(JSON.stringify(manifests)).not.toContain('cdk8s.io/metadata.addr');
  });

  it('labels pods with app, version and app.kubernetes.io/* and selects them by app', () => {
    const deployment = find(service(), 'Deployment', 'product');
    expect(deployment.spec.selector).toEqual({ matchLabels: { app: 'product' } });
    expect(deployment.spec.template.metadata.labels).toEqual({
      app: 'product',
      version: 'v1',
      'app.kubernetes.io/name': 'product',
      'app.kubernetes.io/version': 'v1',
      'app.kubernetes.io/component': 'service',
      'app.kubernetes.io/part-of': 'meshkit',
      'app.kubernetes.io/managed-by': 'cdk8s',
    });
  });

  it('exposes the API on a Service port named http, and keeps the admin port off the Service', () => {
    const svc = find(service(), 'Service', 'product');
    expect(svc.spec).toMatchObject({ selector: { app: 'product' }, ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP' }] });
    expect(svc.spec.ports).toHaveLength(1);
  });

  it('runs a PSS-restricted container with a read-only root and a writable /tmp', () => {
    const pod = find(service(), 'Deployment', 'product').spec.template.spec;
    expect(pod.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 10001,
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0].volumeMounts).toEqual([{ mountPath: '/tmp', name: 'tmp' }]);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('uses local images as kind loads them (imagePullPolicy IfNotPresent)', () => {
    const container = find(service(), 'Deployment', 'product').spec.template.spec.containers[0];
    expect(container).toMatchObject({ image: 'meshkit/product:dev', imagePullPolicy: 'IfNotPresent' });
  });

  it('probes health on the admin port and requests little CPU and memory', () => {
    const container = find(service(), 'Deployment', 'product').spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/health/ready', port: 9090 });
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/health/live', port: 9090 });
    expect(container.resources).toEqual({ requests: { cpu: '25m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });

  it('sizes the Istio sidecar through its annotations and lets Prometheus scrape the admin port', () => {
    const annotations = find(service(), 'Deployment', 'product').spec.template.metadata.annotations;
    expect(annotations).toMatchObject({
      'sidecar.istio.io/proxyCPU': '10m',
      'sidecar.istio.io/proxyMemory': '48Mi',
      'prometheus.io/port': '9090',
      'prometheus.io/path': '/metrics',
    });
  });

  it('adds a HorizontalPodAutoscaler and leaves the replica count to it', () => {
    const manifests = service({ replicas: undefined, autoscaling: { minReplicas: 2, maxReplicas: 4 } });
    expect(find(manifests, 'HorizontalPodAutoscaler', 'product').spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });
    expect(find(manifests, 'Deployment', 'product').spec.replicas).toBeUndefined();
    expect(find(manifests, 'DestinationRule', 'product').spec.trafficPolicy.outlierDetection.maxEjectionPercent).toBe(50);
  });

  it('keeps one pod through voluntary disruptions', () => {
    expect(find(service(), 'PodDisruptionBudget', 'product').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'product' } } });
  });

  it('routes and grants an operation added after construction, and keeps earlier template grants off its literal path', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'shop' });
    const user = new MeshedService(chart, 'user', { image: 'meshkit/user:dev', routes: [Route.read('/users/{id}')] });
    const order = new MeshedService(chart, 'order', { image: 'meshkit/order:dev', callers: Callers.none(), routes: [Route.read('/orders')] });
    user.allowFrom(order);
    const me = Route.read('/users/me');
    user.addRoute(me);
    const web = new MeshedService(chart, 'web', { image: 'meshkit/web:dev', callers: Callers.none(), routes: [Route.read('/')] });
    user.allowFrom(web, [me]);
    const manifests = synth(chart);
    expect(find(manifests, 'VirtualService', 'user').spec.http.map((r: { name: string }) => r.name)).toEqual(['get-users-id', 'get-users-me', 'fallback']);
    const [orderRule, webRule] = find(manifests, 'AuthorizationPolicy', 'user').spec.rules;
    // The grant to order came before /users/me was declared; rendered at synthesis, it still leaves /users/me out.
    expect(orderRule.to).toEqual([{ operation: { ports: ['8080'], methods: ['GET', 'HEAD'], paths: ['/users/{*}'], notPaths: ['/users/me'] } }]);
    expect(webRule).toMatchObject({ from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }], to: [{ operation: { paths: ['/users/me'] } }] });
  });

  it('refuses a bad route at the addRoute call, and a grant of a route it does not declare', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'shop' });
    const product = new MeshedService(chart, 'product', { image: 'meshkit/product:dev', callers: Callers.none(), routes: [Route.read('/products')] });
    expect(() => product.addRoute(Route.read('/products', { timeout: Duration.millis(0) }))).toThrow(
      "route 'GET|HEAD /products' is declared twice: remove one of them\n  - route 'GET|HEAD /products': 'timeout' (0ms) must be at least 1ms",
    );
    expect(() => product.allowFrom(product.peer, [Route.read('/stock')])).toThrow(
      "allowFrom(product) names routes the service does not declare (GET|HEAD /stock): pass routes from its 'routes', or add them first with addRoute",
    );
  });

  it('rejects an id that cannot be a Service name', () => {
    expect(() => service({}, 'Product_Service')).toThrow("id 'Product_Service' is used as the Service name and must be a DNS label");
  });

  it('rejects replicas and autoscaling together, and a privileged port, in one error', () => {
    expect(() => service({ port: 80, replicas: 2, autoscaling: { minReplicas: 1, maxReplicas: 2 } })).toThrow(
      /'port' \(80\) must be an unprivileged port from 1024 to 65535[\s\S]*'replicas' \(2\) and 'autoscaling' are both set: drop replicas/,
    );
  });

  it('rejects a service without routes, since the mesh could not route it', () => {
    expect(() => service({ routes: [] })).toThrow("'routes' is empty");
  });
});
