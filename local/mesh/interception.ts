/**
 * Traffic interception as in a cluster: Istio's own `istio-iptables` (the istio-init
 * container's command, here `pilot-agent istio-iptables`) run inside the pod's network
 * namespace with the injection template's arguments: outbound TCP redirected to Envoy's
 * 15001, inbound to 15006, the proxy's own traffic excluded by its uid and gid, the agent's
 * and Envoy's ports (15090 stats, 15021 health, 15020 merged metrics / app probes) not captured.
 * In a cluster the proxy runs as 1337; here infra/istiod.ts's startSidecar runs pilot-agent
 * and Envoy as root, so the excluded owner is uid/gid 0 (istio-injection.ts says why that holds).
 */
import type { PodNetwork } from './pod-network.js';

/** The uid (and gid) the proxy runs as here; ISTIO_OUTPUT returns its connections untouched. */
export const proxyUid = 0;

/** The istio-init arguments of Istio's sidecar injection template (REDIRECT mode, every port). */
export function istioIptablesArgs(): string[] {
  return [
    'istio-iptables',
    '--envoy-port=15001',
    '--inbound-capture-port=15006',
    `--proxy-uid=${proxyUid}`,
    `--proxy-gid=${proxyUid}`,
    '--istio-inbound-interception-mode=REDIRECT',
    '--istio-service-cidr=*',
    '--istio-service-exclude-cidr=',
    '--istio-inbound-ports=*',
    '--istio-local-exclude-ports=15090,15021,15020',
    '--log_output_level=default:warn',
  ];
}

/** The agent's and Envoy's own ports in the pod, never captured (the template's --istio-local-exclude-ports). */
export const proxyPorts = [15000, 15020, 15021, 15090] as const;

/**
 * Installs Istio's rules in the pod's namespace; returns the nat table as it is then (for the record).
 * One rule is added in front: with the proxy's owner being root, ISTIO_OUTPUT would send a root
 * process's connection to the pod's own address over `lo` (startSidecar's readiness check of
 * the agent at <podIP>:15020) into the inbound listener, where STRICT mTLS refuses it; the
 * proxy's own ports are therefore returned before ISTIO_OUTPUT, as they are excluded inbound.
 */
export function interceptPod(network: PodNetwork, podName: string, pilotAgent: string): Promise<string> {
  const run = installing.then(() => install(network, podName, pilotAgent));
  installing = run.catch(() => undefined);
  return run;
}

/**
 * Pods are intercepted one at a time. Each istio-iptables run starts the 100 MB agent binary and
 * a dozen iptables calls; in a cold CI run on a loaded 2-core machine (2026-12-02) one of seven
 * pods started at once failed there, its cause hidden behind a warning on stderr (host.ts's `sh`
 * now reports how a command ended).
 */
let installing: Promise<unknown> = Promise.resolve();

/**
 * How often istio-iptables is tried: the kubelet restarts a failed istio-init container too. The
 * cold CI runs of 2026-12-02 each saw one exit 1 in about a hundred pods on a loaded machine; its
 * reason went to stdout (Istio's log target), which host.ts's `sh` now reports. A retry passes
 * --reconcile, so rules a failed run left behind are brought in line instead of refused.
 */
const ISTIO_IPTABLES_ATTEMPTS = 3;

async function istioIptables(network: PodNetwork, podName: string, pilotAgent: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await network.exec(podName, pilotAgent, [...istioIptablesArgs(), ...(attempt > 1 ? ['--reconcile'] : [])], { timeoutMs: 60_000 });
      return;
    } catch (err) {
      if (attempt >= ISTIO_IPTABLES_ATTEMPTS) throw err;
      process.stderr.write(`[mesh] ${podName}: istio-iptables attempt ${attempt} of ${ISTIO_IPTABLES_ATTEMPTS} failed, retrying: ${(err as Error).message}\n`);
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

async function install(network: PodNetwork, podName: string, pilotAgent: string): Promise<string> {
  await istioIptables(network, podName, pilotAgent);
  await network.exec(podName, 'iptables', [
    '-t',
    'nat',
    '-I',
    'OUTPUT',
    '1',
    '-o',
    'lo',
    '-p',
    'tcp',
    '-m',
    'multiport',
    '--dports',
    proxyPorts.join(','),
    '-j',
    'RETURN',
  ]);
  return network.exec(podName, 'iptables-save', ['-t', 'nat']);
}
