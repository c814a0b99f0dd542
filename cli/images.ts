import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
        // The Dockerfile's `RUN --mount=type=cache` needs BuildKit, which is not the default builder of Docker 20.10-22 on Linux.
        env: { DOCKER_BUILDKIT: '1' },
        fix: `the build output above names the failing stage; \`DOCKER_BUILDKIT=1 docker build --build-arg SERVICE=${spec.name} .\` reproduces it`,
      },
    );
    if ((await imageId(ctx, image)) !== before) changed.push(spec.name);
  }
  const images = services.map((s) => imageName(s.name, tag));
  const loaded = await ctx.runner.run('kind', ['load', 'docker-image', ...images, '--name', settings.clusterName], { stream: true });
  let how = 'loaded into kind';
  if (loaded.code !== 0) {
    // `kind load docker-image` fails with Docker's containerd image store (Docker Desktop, Docker 29's default;
    // kubernetes-sigs/kind#3795): an archive from `docker save` loads either way.
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-images-'));
    const archive = join(dir, 'images.tar');
    try {
      await mustRun(ctx.runner, 'docker', ['save', '--output', archive, ...images], { fix: 'check the free disk space of the temp directory' });
      await mustRun(ctx.runner, 'kind', ['load', 'image-archive', archive, '--name', settings.clusterName], { stream: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    how = 'loaded into kind through `docker save` + `kind load image-archive` (`kind load docker-image` failed)';
  }

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
    `${images.length} images built (${changed.length > 0 ? `changed: ${changed.join(', ')}` : 'none changed'}) and ${how}` +
    (restarted.length > 0 ? `; restarted ${restarted.join(', ')}` : '')
  );
}
