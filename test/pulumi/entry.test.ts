import * as pulumi from '@pulumi/pulumi';
import { describe, expect, it } from 'vitest';
import { services } from '../../charts/platform.js';
import { installMocks, recorded, valueOf } from './mock-runtime.js';

// Pulumi.yaml's `main`: stack config in, the platform registered, the stack outputs exported.
describe('pulumi/index.ts', () => {
  it('deploys from the stack config and exports the gateway URL, namespaces and Secrets', async () => {
    await installMocks({ 'meshkit:dbPasswordSeed': 'entry-point-seed-long-enough-0123456789', 'meshkit:gatewayUrl': 'http://localhost:9999' }, [
      'meshkit:dbPasswordSeed',
    ]);
    const stack = await import('../../pulumi/index.js');
    expect(await valueOf(stack.gatewayUrl)).toBe('http://localhost:9999');
    expect(await valueOf(stack.namespaces)).toEqual(['shop', 'kafka']);
    // One database Secret and one Deployment per service of the model.
    expect(stack.databaseSecrets).toHaveLength(services.length);
    // What the language host does when the program ends: wait for every outstanding registration.
    await pulumi.runtime.disconnect();
    expect(
      recorded
        .filter((r) => r.type === 'kubernetes:apps/v1:Deployment' && !r.read)
        .map((r) => r.name)
        .sort(),
    ).toEqual(services.map((s) => `shop/${s.name}`).sort());
  });
});
