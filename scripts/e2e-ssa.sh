#!/usr/bin/env bash
# The server-side apply scenario with stock kubectl: apply --server-side
# twice with a field removed, two managers and a conflict (the error text
# kubectl prints), --force-conflicts, client-side apply after server-side
# apply and the reverse (the last-applied upgrade path), and
# get --show-managed-fields. Needs KUBECONFIG; KUBECTL selects the binary.
set -uo pipefail
. "$(dirname "$0")/lib/expect.sh"
ns=ssa-$$

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# configmap NAME KEY=VALUE...: a ConfigMap manifest in $dir/NAME.yaml.
configmap() {
  local name=$1; shift
  { echo "apiVersion: v1"; echo "kind: ConfigMap"; echo "metadata:"; echo "  name: $name"
    echo "  namespace: $ns"; echo "data:"
    for kv in "$@"; do echo "  ${kv%%=*}: \"${kv#*=}\""; done; } >"$dir/$name.yaml"
  echo "$dir/$name.yaml"
}

echo "== server-side apply with kubectl $($kubectl version --client 2>/dev/null | head -1)"
expect "namespace" "namespace/$ns created" k create namespace "$ns"

# Apply twice, the second time without b: b goes away.
expect "apply --server-side creates" 'configmap/cfg serverside-applied' k apply --server-side -f "$(configmap cfg a=1 b=2)"
expect "apply --server-side without b" 'configmap/cfg serverside-applied' k apply --server-side -f "$(configmap cfg a=1)"
expect "the removed field is gone" '^\{"a":"1"\}$' k -n "$ns" get configmap cfg -o 'jsonpath={.data}'
expect_no "get -o yaml hides managed fields" 'managedFields' k -n "$ns" get configmap cfg -o yaml
expect "show-managed-fields: kubectl owns data.a" 'manager: kubectl' k -n "$ns" get configmap cfg -o yaml --show-managed-fields
expect "show-managed-fields: Apply operation and FieldsV1" 'f:a: \{\}' k -n "$ns" get configmap cfg -o yaml --show-managed-fields
expect "managedFields entry" '^kubectl Apply v1 FieldsV1$' k -n "$ns" get configmap cfg --show-managed-fields -o 'jsonpath={range .metadata.managedFields[*]}{.manager} {.operation} {.apiVersion} {.fieldsType}{"\n"}{end}'

# A second manager: the same value is shared, a different one conflicts.
expect "second manager shares a field" 'configmap/cfg serverside-applied' k apply --server-side --field-manager=other -f "$(configmap cfg a=1)"
expect_fail "conflicting value is refused" 'Apply failed with 1 conflict: conflict with "kubectl": \.data\.a' k apply --server-side --field-manager=other -f "$(configmap cfg a=2)"
expect "refused apply changed nothing" '^1$' k -n "$ns" get configmap cfg -o 'jsonpath={.data.a}'
expect "--force-conflicts takes over" 'configmap/cfg serverside-applied' k apply --server-side --field-manager=other --force-conflicts -f "$(configmap cfg a=2)"
expect "forced value" '^2$' k -n "$ns" get configmap cfg -o 'jsonpath={.data.a}'
expect_fail "first manager now conflicts" 'conflict with "other"' k apply --server-side -f "$(configmap cfg a=1)"

# Client-side apply after server-side apply.
expect "server-side apply a new object" 'configmap/later serverside-applied' k apply --server-side -f "$(configmap later x=1)"
expect "client-side apply after it" 'configmap/later configured' k apply -f "$(configmap later x=2)"
expect "client-side apply's value" '^2$' k -n "$ns" get configmap later -o 'jsonpath={.data.x}'
expect "client-side apply is an Update manager" 'kubectl-client-side-apply Update' k -n "$ns" get configmap later --show-managed-fields -o 'jsonpath={range .metadata.managedFields[*]}{.manager} {.operation}{"\n"}{end}'

# Server-side apply after client-side apply: kubectl takes over what the
# last-applied configuration holds, without conflicts.
expect "client-side apply creates" 'configmap/csa created' k apply -f "$(configmap csa p=1 q=1)"
expect "server-side apply takes over" 'configmap/csa serverside-applied' k apply --server-side -f "$(configmap csa p=2 q=1)"
expect "taken-over value" '^2$' k -n "$ns" get configmap csa -o 'jsonpath={.data.p}'
expect "last-applied annotation follows" '"p":"2"' k -n "$ns" get configmap csa -o 'jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}'
expect "client-side apply again" 'configmap/csa configured' k apply -f "$(configmap csa p=3)"
expect "q removed by client-side apply" '^\{"p":"3"\}$' k -n "$ns" get configmap csa -o 'jsonpath={.data}'

# A Deployment scaled by kubectl scale (manager "kubectl" from its
# User-Agent, on the scale subresource): applying replicas again conflicts.
cat >"$dir/web.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: $ns
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:local
        ports:
        - containerPort: 80
YAML
expect "apply deployment" 'deployment.apps/web serverside-applied' k apply --server-side -f "$dir/web.yaml"
expect "scale it" 'deployment.apps/web scaled' k -n "$ns" scale deployment web --replicas=3
expect_fail "replicas now conflict with the scaler" 'conflict with "kubectl[^"]*" with subresource "scale" using apps/v1: \.spec\.replicas' k apply --server-side -f "$dir/web.yaml"
expect "dry-run server-side apply" 'deployment.apps/web serverside-applied \(server dry run\)' k apply --server-side --force-conflicts --dry-run=server -f "$dir/web.yaml"
expect "dry run changed nothing" '^3$' k -n "$ns" get deployment web -o 'jsonpath={.spec.replicas}'
expect "container ports keyed by port and protocol" 'k:\{"containerPort":80,"protocol":"TCP"\}' k -n "$ns" get deployment web -o yaml --show-managed-fields

expect "delete namespace" "namespace \"$ns\" deleted" k delete namespace "$ns" --wait --timeout=60s

echo
echo "server-side apply scenario: $pass passed, $fail failed"
if [ $fail -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; exit 1; fi
