/**
 * Entry point of `cdk8s synth` and `npm run synth`: writes one YAML file per chart
 * to dist/ (or $CDK8S_OUTDIR, which `cdk8s synth` sets).
 */
import { buildPlatform } from './platform-app.js';

const { app } = buildPlatform({ outdir: process.env.CDK8S_OUTDIR ?? 'dist' });
app.synth();
console.log(`synthesized ${app.charts.length} charts to ${app.outdir}`);
