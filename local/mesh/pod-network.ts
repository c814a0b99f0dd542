/**
 * The pod network: one Linux bridge in the root namespace, and per pod a network namespace
 * joined to it by a veth pair, with an address from the run's pod CIDR and a default route
 * through the bridge. IP forwarding is left as it is (off on this machine), so pods reach
 * each other and the root namespace (istiod, the apiserver's proxy), never the outside.
 *
 * Every name carries the run's prefix `mk-<id>` (bridge `mk-<id>`, host veths
 * `mk-<id>-<n>`, namespaces `mk-<id>-<pod>`, /etc/netns/mk-<id>-<pod>); a state file in
 * /run/meshkit-mesh/<id> holds the owning process id, so a later run removes what a
 * SIGKILLed one left behind (`sweepStaleNetworks`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, shQuiet } from './host.js';
import { isAlive } from '../../infra/processes.js';

const stateRoot = '/run/meshkit-mesh';
/** Prefix of every bridge, veth, namespace and /etc/netns folder the mesh runtime makes. */
export const namePrefix = 'mk-';

export interface PodAddress {
  /** The pod's network namespace, as `ip netns` names it. */
  readonly netns: string;
  /** The pod's IPv4 address on the bridge. */
  readonly ip: string;
  /** The host end of its veth pair. */
  readonly hostVeth: string;
}

/** What a run (or a dead run) left on the machine, by kind: empty lists mean nothing. */
export interface NetworkLeftovers {
  readonly netns: string[];
  readonly links: string[];
  readonly etcNetns: string[];
  readonly mounts: string[];
}

async function netnsNames(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

async function linkNames(): Promise<string[]> {
  const out = await sh('ip', ['-o', 'link', 'show']);
  return out
    .split('\n')
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '')
    .filter(Boolean);
}

/** Bridges, veths, namespaces, /etc/netns folders and netns mounts whose name starts with `prefix`. */
export async function networkLeftovers(prefix: string = namePrefix): Promise<NetworkLeftovers> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`/run/netns/${prefix}`) || point.startsWith(`/var/run/netns/${prefix}`) || point.startsWith(`/etc/netns/${prefix}`));
  return {
    netns: (await netnsNames()).filter((n) => n.startsWith(prefix)),
    links: (await linkNames()).filter((n) => n.startsWith(prefix)),
    etcNetns: existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(prefix)) : [],
    mounts,
  };
}

async function removeEverything(prefix: string): Promise<void> {
  const left = await networkLeftovers(prefix);
  // Deleting a namespace deletes the veth end inside it, and with it its peer.
  for (const netns of left.netns) await shQuiet('ip', ['netns', 'delete', netns]);
  for (const link of (await networkLeftovers(prefix)).links) await shQuiet('ip', ['link', 'delete', link]);
  for (const dir of left.etcNetns) rmSync(join('/etc/netns', dir), { recursive: true, force: true });
}

/**
 * Removes the bridges, veths, namespaces and /etc/netns folders of runs whose process is
 * gone (a SIGKILLed `make mesh` or test run never reached its cleanup).
 */
export async function sweepStaleNetworks(): Promise<string[]> {
  if (!existsSync(stateRoot)) return [];
  const swept: string[] = [];
  for (const id of readdirSync(stateRoot)) {
    const pid = Number(readFileSync(join(stateRoot, id), 'utf8').trim());
    if (pid && isAlive(pid)) continue;
    await removeEverything(`${namePrefix}${id}`);
    rmSync(join(stateRoot, id), { force: true });
    swept.push(`${namePrefix}${id}`);
  }
  return swept;
}

async function freeSubnet(): Promise<number> {
  const routes = await sh('ip', ['-4', 'route', 'show', 'table', 'all']);
  const addresses = await sh('ip', ['-4', '-o', 'addr', 'show']);
  for (let third = 0; third < 256; third++) {
    if (!routes.includes(`10.244.${third}.`) && !addresses.includes(`10.244.${third}.`)) return third;
  }
  throw new Error('no free /24 in 10.244.0.0/16 for the pod network: remove stale bridges (ip -4 route | grep 10.244.)');
}

/** A bridge and its pods' namespaces for one run; `destroy()` removes all of it. */
export class PodNetwork {
  private readonly pods = new Map<string, PodAddress>();
  private nextHost = 2;
  private nextVeth = 0;

  private constructor(
    /** Short random id of the run; every name starts with `mk-<id>`. */
    readonly id: string,
    /** The pod CIDR, e.g. 10.244.3.0/24. */
    readonly cidr: string,
    /** The bridge's address: the pods' default gateway, and where root-namespace servers (istiod) are reached. */
    readonly gatewayIp: string,
    readonly bridge: string,
  ) {}

  /** Name prefix of this run's links, namespaces and /etc/netns folders. */
  get prefix(): string {
    return `${namePrefix}${this.id}`;
  }

  /** Creates the bridge on a free 10.244.<n>.0/24 (after sweeping dead runs' leftovers). */
  static async create(): Promise<PodNetwork> {
    await sweepStaleNetworks();
    const id = randomBytes(2).toString('hex');
    mkdirSync(stateRoot, { recursive: true });
    writeFileSync(join(stateRoot, id), `${process.pid}\n`);
    const third = await freeSubnet();
    const network = new PodNetwork(id, `10.244.${third}.0/24`, `10.244.${third}.1`, `${namePrefix}${id}`);
    try {
      await sh('ip', ['link', 'add', network.bridge, 'type', 'bridge']);
      await sh('ip', ['addr', 'add', `${network.gatewayIp}/24`, 'dev', network.bridge]);
      await sh('ip', ['link', 'set', network.bridge, 'up']);
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  /** The namespace name of a pod of this run. */
  netnsOf(podName: string): string {
    return `${this.prefix}-${podName}`;
  }

  /** Addresses of the pods that have one. */
  get addresses(): ReadonlyMap<string, PodAddress> {
    return this.pods;
  }

  /**
   * Creates the pod's namespace with `lo` up and `eth0` (the veth's pod end) on the bridge.
   * A pod that had an address before gets the same one again (a StatefulSet pod keeps its name).
   */
  async addPod(podName: string, reuseIp?: string): Promise<PodAddress> {
    const existing = this.pods.get(podName);
    if (existing) return existing;
    if (this.nextHost > 254) throw new Error(`the pod network ${this.cidr} is full`);
    const base = this.gatewayIp.split('.').slice(0, 3).join('.');
    const ip = reuseIp ?? `${base}.${this.nextHost++}`;
    const netns = this.netnsOf(podName);
    const hostVeth = `${this.prefix}-${this.nextVeth++}`;
    const peer = `${hostVeth}p`;
    await sh('ip', ['netns', 'add', netns]);
    const address = { netns, ip, hostVeth };
    this.pods.set(podName, address);
    await sh('ip', ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', peer]);
    await sh('ip', ['link', 'set', peer, 'netns', netns]);
    await sh('ip', ['link', 'set', hostVeth, 'master', this.bridge, 'up']);
    await sh('ip', ['-n', netns, 'link', 'set', peer, 'name', 'eth0']);
    await sh('ip', ['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', netns, 'route', 'add', 'default', 'via', this.gatewayIp]);
    return address;
  }

  /** Deletes the pod's namespace (and so its veth pair) and its /etc/netns folder. */
  async removePod(podName: string): Promise<void> {
    const address = this.pods.get(podName);
    if (!address) return;
    this.pods.delete(podName);
    await shQuiet('ip', ['netns', 'delete', address.netns]);
    await shQuiet('ip', ['link', 'delete', address.hostVeth]);
    rmSync(join('/etc/netns', address.netns), { recursive: true, force: true });
  }

  /**
   * Writes a file that `ip netns exec` bind-mounts over /etc/<name> for processes of the pod
   * (hosts, resolv.conf). Rewritten in place, so processes already running see the new content.
   */
  writeEtc(podName: string, name: 'hosts' | 'resolv.conf', content: string): void {
    const dir = join('/etc/netns', this.netnsOf(podName));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), content);
  }

  /** `ip netns exec <pod's namespace> <command>`: runs a command inside the pod's network. */
  exec(podName: string, command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    return sh('ip', ['netns', 'exec', this.netnsOf(podName), command, ...args], options);
  }

  /** Removes every namespace, veth, the bridge, the /etc/netns folders and the state file of this run. */
  async destroy(): Promise<void> {
    for (const pod of [...this.pods.keys()]) await this.removePod(pod);
    await removeEverything(this.prefix);
    rmSync(join(stateRoot, this.id), { force: true });
  }
}
