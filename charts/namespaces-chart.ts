import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { namespaces } from './platform.js';

/** `shop` with Istio sidecar injection; `kafka` explicitly without (brokers stay out of the mesh). */
export class NamespacesChart extends Chart {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new kplus.Namespace(this, 'shop', {
      metadata: { name: namespaces.shop, labels: { 'istio-injection': 'enabled', 'app.kubernetes.io/part-of': 'meshkit' } },
    });
    new kplus.Namespace(this, 'kafka', {
      metadata: { name: namespaces.kafka, labels: { 'istio-injection': 'disabled', 'app.kubernetes.io/part-of': 'meshkit' } },
    });
  }
}
