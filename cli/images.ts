import { join } from 'node:path';
import { namespaces, services } from '../charts/platform.js';
import { imageTag, settings, type Context } from './context.js';
import type { Session } from './kind.js';
import { mustRun } from './runner.js';

/** The image the charts reference for a service (charts/shop-chart.ts: `meshkit/<service>:<tag>`). */
export function imageName(service: string, tag: string): string {
  return `meshkit/${service}:${tag}`;
}

async function imageId(ctx: Pick<Context, 'runner'>, image: string): Promise<string | undefined> {
  const result = await ctx.runner.run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/**
 * Builds one image per service with the repository Dockerfile, loads them into the kind
 * node (kind has no registry; pods use IfNotPresent) and restarts the Deployments whose
 * image changed: the tag stays `dev`, so without a restart running pods keep the old one.
 * Re-running is cheap: Docker's layer cache rebuilds nothing, and kind skips images the
 * node already has.
 */
export async function buildAndLoadImages(ctx: Pick<Context, 'runner' | 'repoRoot' | 'env' | 'now'>, session: Session | undefined): Promise<string> {
  const tag = imageTag(ctx);
  const changed: string[] = [];
  for (const spec of services) {
    const image = imageName(spec.name, tag);
    const before = await imageId(ctx, image);
    await mustRun(
      ctx.runner,
      'docker',
      ['build', '--file', join(ctx.repoRoot, 'Dockerfile'), '--build-arg', `SERVICE=${spec.name}`, '--tag', image, ctx.repoRoot],
      {
        stream: true,
        fix: `the build output above names the failing stage; \`docker build --build-arg SERVICE=${spec.name} .\` reproduces it`,
      },
    );
    if ((await imageId(ctx, image)) !== before) changed.push(spec.name);
  }
  const images = services.map((s) => imageName(s.name, tag));
  await mustRun(ctx.runner, 'kind', ['load', 'docker-image', ...images, '--name', settings.clusterName], { stream: true });

  const restarted: string[] = [];
  if (session) {
    for (const name of changed) {
      if (!(await session.api.get('apps/v1', 'Deployment', name, namespaces.shop))) continue;
      // What `kubectl rollout restart` does: a new pod-template annotation starts a rollout.
      await session.api.mergePatch('apps/v1', 'Deployment', name, namespaces.shop, {
        spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date(ctx.now()).toISOString() } } } },
      });
      restarted.push(name);
    }
  }
  return (
    `${images.length} images built (${changed.length > 0 ? `changed: ${changed.join(', ')}` : 'none changed'}) and loaded into kind` +
    (restarted.length > 0 ? `; restarted ${restarted.join(', ')}` : '')
  );
}
