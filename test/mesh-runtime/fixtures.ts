import type { KubeObject } from '../../infra/kube-client.js';

/**
 * A tiny HTTP server as a container command: answers every request with its pod name
 * (HOSTNAME), and `/fetch?url=…` with what it got from that URL (so a test can make one pod call another).
 */
const server = `
const http = require('node:http');
http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/fetch') {
    try {
      const r = await fetch(url.searchParams.get('url'), { signal: AbortSignal.timeout(3000) });
      res.end(await r.text());
    } catch (e) { res.statusCode = 502; res.end(String(e.cause?.code ?? e.message)); }
    return;
  }
  // No keep-alive: each call is a new connection, so kube-proxy's random choice is seen per call.
  res.setHeader('connection', 'close');
  res.end(process.env.HOSTNAME + ' ' + (process.env.GREETING ?? ''));
}).listen(Number(process.env.PORT), '0.0.0.0');
`;

function deployment(namespace: string, name: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          securityContext: { runAsUser: 65534, runAsGroup: 65534 },
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name,
              image: `example/${name}:test`,
              command: [process.execPath, '-e', server],
              env: [
                { name: 'PORT', value: '8080' },
                { name: 'WHO', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'GREETING', value: 'hello from $(WHO)' },
              ],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 3 },
            },
          ],
        },
      },
    },
  };
}

/** Namespace `namespace` with Deployments echo (2 replicas) and client (1), and a Service echo port 80 -> named port http. */
export function twoAppManifests(namespace: string): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo', namespace },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
    deployment(namespace, 'echo', 2),
    deployment(namespace, 'client', 1),
  ];
}
