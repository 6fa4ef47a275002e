#!/usr/bin/env bash
# The CustomResourceDefinition scenario with stock kubectl: install a CRD,
# wait until it is established, create custom resources, read them with
# their short name and printer columns, explain the kind, see an invalid
# object refused with upstream's message, and delete the CRD with its
# objects. Needs KUBECONFIG pointing at a cluster; KUBECTL selects the
# binary (default: kubectl on PATH).
set -uo pipefail
. "$(dirname "$0")/lib/expect.sh"
ns=e2e-crd-$$


echo "== CRD scenario, kubectl $($kubectl version --client 2>/dev/null | head -1)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.e2e.oxkube.io
spec:
  group: e2e.oxkube.io
  scope: Namespaced
  names:
    plural: gizmos
    singular: gizmo
    kind: Gizmo
    shortNames: [gz]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Size
      type: string
      jsonPath: .spec.size
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        description: A Gizmo is a small thing the e2e scenario creates.
        properties:
          spec:
            type: object
            description: The desired state of the Gizmo.
            required: [size]
            properties:
              size:
                type: string
                description: How big the gizmo is.
                enum: [small, large]
              replicas:
                type: integer
                description: How many copies.
                minimum: 0
                default: 1
          status:
            type: object
            properties:
              phase:
                type: string
              replicas:
                type: integer
YAML
cat >"$dir/ns.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
YAML
cat >"$dir/gizmos.yaml" <<'YAML'
apiVersion: e2e.oxkube.io/v1
kind: Gizmo
metadata:
  name: alpha
spec:
  size: small
---
apiVersion: e2e.oxkube.io/v1
kind: Gizmo
metadata:
  name: beta
spec:
  size: large
  replicas: 3
YAML
cat >"$dir/bad.yaml" <<'YAML'
apiVersion: e2e.oxkube.io/v1
kind: Gizmo
metadata:
  name: bad
spec:
  size: huge
  replicas: -1
YAML

expect "apply CRD" 'customresourcedefinition.apiextensions.k8s.io/gizmos.e2e.oxkube.io created' k apply -f "$dir/crd.yaml"
expect "wait for established" 'condition met' k wait --for condition=established --timeout=30s crd/gizmos.e2e.oxkube.io
expect "CRD has NamesAccepted" 'True' k get crd gizmos.e2e.oxkube.io -o 'jsonpath={.status.conditions[?(@.type=="NamesAccepted")].status}'
expect "api-resources lists gizmos" 'gizmos +gz +e2e.oxkube.io/v1 +true +Gizmo' k api-resources --api-group=e2e.oxkube.io
expect "create namespace" "namespace/$ns created" k create -f "$dir/ns.yaml"
expect "get before create" 'No resources found' k -n "$ns" get gizmos
expect "create custom resources" 'gizmo.e2e.oxkube.io/beta created' k -n "$ns" create -f "$dir/gizmos.yaml"
expect "get by short name shows printer columns" 'NAME +SIZE +REPLICAS +AGE' k -n "$ns" get gz
expect "printer column values (default applied, age)" 'alpha +small +1 +[0-9]+[smhd]' k -n "$ns" get gz
expect "printer column values" 'beta +large +3 ' k -n "$ns" get gizmo beta
expect "get all includes the category" 'gizmo.e2e.oxkube.io/alpha' k -n "$ns" get all
expect "explain the kind" 'A Gizmo is a small thing' k explain gizmos
expect "explain kind.spec" 'size.*<string>.*-required-' k explain gizmo.spec
expect_fail "invalid object refused with upstream's message" 'The Gizmo "bad" is invalid' k -n "$ns" create -f "$dir/bad.yaml"
expect_fail "enum in the message" 'spec.size: Unsupported value: "huge": supported values: "small", "large"' k -n "$ns" create -f "$dir/bad.yaml"
expect_fail "minimum in the message" 'spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0' k -n "$ns" create -f "$dir/bad.yaml"
# Client-side apply of a custom resource: kubectl must send a JSON merge
# patch (the OpenAPI of custom resources offers no strategic merge patch).
sed 's/size: small/size: large/' "$dir/gizmos.yaml" >"$dir/gizmos-changed.yaml"
expect "apply custom resources" 'gizmo.e2e.oxkube.io/alpha (created|configured|unchanged)' k -n "$ns" apply -f "$dir/gizmos.yaml"
expect "apply a changed custom resource" 'gizmo.e2e.oxkube.io/alpha configured' k -n "$ns" apply -f "$dir/gizmos-changed.yaml"
expect "applied value" '^large$' k -n "$ns" get gizmo alpha -o 'jsonpath={.spec.size}'
expect "patch merge" 'gizmo.e2e.oxkube.io/alpha patched' k -n "$ns" patch gizmo alpha --type=merge -p '{"spec":{"replicas":2}}'
expect "patched value" '^2$' k -n "$ns" get gizmo alpha -o 'jsonpath={.spec.replicas}'
expect "scale subresource" 'gizmo.e2e.oxkube.io/beta scaled' k -n "$ns" scale gizmo beta --replicas=5
expect "scaled value" '^5$' k -n "$ns" get gizmo beta -o 'jsonpath={.spec.replicas}'
expect_fail "strategic merge patch refused" 'UnsupportedMediaType|unknown format' k -n "$ns" patch gizmo alpha --type=strategic -p '{"spec":{"replicas":4}}'
expect "delete CRD" 'customresourcedefinition.apiextensions.k8s.io "gizmos.e2e.oxkube.io" deleted' k delete -f "$dir/crd.yaml" --wait --timeout=60s
# kubectl may still hold the old discovery: either answer says it is gone.
expect_fail "resource type is gone" "doesn't have a resource type \"gizmos\"|could not find the requested resource" k -n "$ns" get gizmos
expect_fail "CRD is gone" 'NotFound' k get crd gizmos.e2e.oxkube.io
expect "delete namespace" "namespace \"$ns\" deleted" k delete namespace "$ns" --wait --timeout=60s

echo
echo "CRD scenario: $pass passed, $fail failed"
if [ $fail -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; exit 1; fi
