/**
 * Where a cold synthesis spends its time, measured inside one fresh process:
 * `tsx bench/synth/phases.ts platform|minimal` with CDK8S_OUTDIR set prints JSON
 * with the milliseconds of each phase. Only dynamic imports, so each module
 * group loads (and, under tsx, is transpiled) in the phase that names it.
 */
const bootMs = performance.now(); // since the process started: Node itself plus the loader (tsx) and this file
const phases: Record<string, number> = { 'node + loader boot': bootMs };
let last = bootMs;
const mark = (name: string) => {
  const now = performance.now();
  phases[name] = now - last;
  last = now;
};

const which = process.argv[2];
const outdir = process.env.CDK8S_OUTDIR;
if ((which !== 'platform' && which !== 'minimal') || !outdir) {
  console.error('usage: CDK8S_OUTDIR=<dir> tsx bench/synth/phases.ts platform|minimal');
  process.exit(2);
}

const cdk8s = await import('cdk8s');
await import('constructs');
mark('import cdk8s + constructs');
const kplus = await import('cdk8s-plus-28');
mark('import cdk8s-plus-28');
if (which === 'platform') {
  await import('../../imports/istio-networking.istio.io.js');
  mark('import imports/istio-networking (1.1 MB generated)');
  await import('../../imports/istio-security.istio.io.js');
  mark('import imports/istio-security');
  await import('../../imports/strimzi-kafka.strimzi.io.js');
  mark('import imports/strimzi-kafka (2.2 MB generated)');
  const { buildPlatform } = await import('../../charts/platform-app.js');
  mark('import constructs/, mesh/, charts/');
  const { app } = buildPlatform({ outdir });
  mark('build construct tree');
  app.synth();
  mark('synth (validate, resolve, write YAML)');
} else {
  const app = new cdk8s.App({ outdir });
  const chart = new cdk8s.Chart(app, 'minimal');
  const deployment = new kplus.Deployment(chart, 'web', {
    replicas: 2,
    containers: [{ image: 'nginx:1.27', portNumber: 8080, securityContext: { user: 10001 } }],
  });
  deployment.exposeViaService({ ports: [{ port: 80, targetPort: 8080 }] });
  mark('build construct tree');
  app.synth();
  mark('synth (validate, resolve, write YAML)');
}
const rounded = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v * 10) / 10]));
console.log(JSON.stringify({ which, totalInProcessMs: Math.round(performance.now() * 10) / 10, phases: rounded }));
