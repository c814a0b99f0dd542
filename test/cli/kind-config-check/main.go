// Command kind-config-check decodes a kind cluster config exactly as kind v0.30.0 does
// (sigs.k8s.io/kind/pkg/internal/apis/config/encoding/load.go: apiVersion
// kind.x-k8s.io/v1alpha4, kind Cluster, gopkg.in/yaml.v3 with KnownFields), into kind's
// own v1alpha4 types, so an unknown or misspelled field or a wrong type fails here the
// way `kind create cluster --config` would. It prints the decoded config as JSON.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	yaml "gopkg.in/yaml.v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kind-config-check <kind-config.yaml>")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var meta v1alpha4.TypeMeta
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		fmt.Fprintln(os.Stderr, "could not determine kind / apiVersion:", err)
		os.Exit(1)
	}
	if meta.APIVersion != "kind.x-k8s.io/v1alpha4" || meta.Kind != "Cluster" {
		fmt.Fprintf(os.Stderr, "unknown apiVersion/kind %q/%q (kind v0.30 reads kind.x-k8s.io/v1alpha4 Cluster)\n", meta.APIVersion, meta.Kind)
		os.Exit(1)
	}
	decoder := yaml.NewDecoder(bytes.NewReader(raw))
	decoder.KnownFields(true)
	var cluster v1alpha4.Cluster
	if err := decoder.Decode(&cluster); err != nil {
		fmt.Fprintln(os.Stderr, "unable to decode config:", err)
		os.Exit(1)
	}
	out, err := json.Marshal(cluster)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
