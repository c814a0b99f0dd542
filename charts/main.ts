/**
 * Entry point of `cdk8s synth` and `npm run synth`: writes one YAML file per chart
 * to dist/ (or $CDK8S_OUTDIR, which `cdk8s synth` sets). A construct that refuses its props
 * says so in its error message (the prop, the value received, the fix): that message is
 * printed alone, without a stack trace, and the exit code is 1 (MESHKIT_DEBUG=1 adds the stack).
 */
import { pathToFileURL } from 'node:url';
import type { App } from 'cdk8s';

export interface SynthIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly debug?: boolean;
}

/** Builds and synthesizes; returns the exit code (0, or 1 with the construct's message on `err`). */
export async function synthMain(build: () => App | Promise<App>, io: SynthIo): Promise<number> {
  try {
    const app = await build();
    app.synth();
    io.out(`synthesized ${app.charts.length} charts to ${app.outdir}`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.err(`synth failed: ${message}`);
    if (io.debug && error instanceof Error && error.stack) io.err(error.stack);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await synthMain(
    async () => {
      const { buildPlatform } = await import('./platform-app.js');
      return buildPlatform({ outdir: process.env.CDK8S_OUTDIR ?? 'dist' }).app;
    },
    { out: (line) => console.log(line), err: (line) => console.error(line), debug: process.env.MESHKIT_DEBUG === '1' },
  );
}
