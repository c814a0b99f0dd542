/**
 * Pulumi's runtime mocks with a recorder: every resource registration and read the
 * program sends to the (mock) engine, with the parent and the dependency URNs the SDK
 * computed from `dependsOn`, as the engine would receive them.
 */
import * as pulumi from '@pulumi/pulumi';

export interface Registration {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** Whether this is a read of an existing object (`Resource.get`) rather than a managed resource. */
  readonly read: boolean;
  readonly custom: boolean;
  readonly parent: string;
  readonly provider: string;
  readonly dependencies: readonly string[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- deserialized resource inputs are untyped
  readonly inputs: any;
}

interface ProtoRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProvider(): string;
  getDependenciesList(): string[];
  getCustom?(): boolean;
}
type Callback = (err: unknown, response: { getUrn(): string } | undefined) => void;
interface Monitor {
  registerResource(req: ProtoRequest, cb: Callback): Promise<void>;
  readResource(req: ProtoRequest, cb: Callback): Promise<void>;
}

export const recorded: Registration[] = [];
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- deserialized resource inputs are untyped
const inputsByResource = new Map<string, any>();

/** Installs the mocks (idempotent per test file); resources echo their inputs as state. */
export async function installMocks(config: Record<string, string>, secretKeys: string[]): Promise<void> {
  pulumi.runtime.setAllConfig(config, secretKeys);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        inputsByResource.set(`${args.type}::${args.name}`, args.inputs);
        return { id: args.id || `${args.name}_id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    'meshkit',
    'test',
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  for (const method of ['registerResource', 'readResource'] as const) {
    const original = monitor[method].bind(monitor);
    monitor[method] = (req, cb) =>
      original(req, (err, response) => {
        if (!err && response) {
          recorded.push({
            urn: response.getUrn(),
            type: req.getType(),
            name: req.getName(),
            read: method === 'readResource',
            custom: method === 'readResource' || Boolean(req.getCustom?.()),
            parent: req.getParent(),
            provider: req.getProvider(),
            dependencies: req.getDependenciesList(),
            inputs: inputsByResource.get(`${req.getType()}::${req.getName()}`),
          });
        }
        cb(err, response);
      });
  }
}

/** Resolves an output's value, secret or not (the mocks run as `pulumi up`, so values are known). */
export function valueOf<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/** Waits until every resource has been registered (its URN resolves only after the engine answered). */
export async function settled(resources: readonly pulumi.Resource[]): Promise<void> {
  await Promise.all(resources.map((r) => valueOf(r.urn)));
}
