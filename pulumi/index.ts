/**
 * Pulumi entry point (Pulumi.yaml `main`): the cdk8s platform of charts/, deployed to the
 * kubeconfig context of the stack (default `kind-meshkit`, the cluster `make up` creates).
 */
import * as pulumi from '@pulumi/pulumi';
import { buildPlatform } from '../charts/platform-app.js';
import { deployPlatform, readConfig } from './platform.js';

const deployed = deployPlatform(buildPlatform(), readConfig(new pulumi.Config('meshkit')));

/** The shop's public API through the Istio ingress gateway. */
export const gatewayUrl = deployed.gatewayUrl;
export const namespaces = deployed.namespaces;
export const databaseSecrets = deployed.databaseSecrets;
