// Validates kind-config.yaml with kind's own config types (test/cli/kind-config.test.ts
// runs it). Pinned to the kind release whose node image constructs/versions.ts uses.
module meshkit/test/cli/kind-config-check

go 1.24.0

require (
	gopkg.in/yaml.v3 v3.0.1
	sigs.k8s.io/kind v0.30.0
)

require github.com/pkg/errors v0.9.1 // indirect
