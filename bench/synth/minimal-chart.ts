/**
 * The baseline of the synthesis benchmark: the smallest useful cdk8s-plus app,
 * one Deployment and the Service in front of it, synthesized like charts/main.ts
 * (to $CDK8S_OUTDIR, default dist/).
 */
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'dist' });
const chart = new Chart(app, 'minimal');
const deployment = new kplus.Deployment(chart, 'web', {
  replicas: 2,
  containers: [{ image: 'nginx:1.27', portNumber: 8080, securityContext: { user: 10001 } }],
});
deployment.exposeViaService({ ports: [{ port: 80, targetPort: 8080 }] });
app.synth();
console.log(`synthesized ${app.charts.length} chart to ${app.outdir}`);
