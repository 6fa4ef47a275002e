#!/usr/bin/env bash
# The stock-kubectl scenario: each step runs kubectl as a user would type it
# and checks the output it expects. Needs KUBECONFIG pointing at a cluster.
# KUBECTL selects the binary (default: kubectl on PATH).
set -uo pipefail
. "$(dirname "$0")/lib/expect.sh"
ns=e2e-$$


echo "== kubectl $($kubectl version --client 2>/dev/null | head -1)"
expect "server version is v1.33" 'Server Version: v1\.33' k version
expect "system namespaces exist" 'kube-system +Active' k get namespaces
expect "api-resources lists pods with short name" 'pods +po +v1 +true +Pod' k api-resources
expect "api-resources lists deployments" 'deployments +deploy +apps/v1 +true +Deployment' k api-resources
expect "explain reads OpenAPI v3" 'FIELD: containers <\[\]Container>' k explain pods.spec.containers
expect "get all" 'service/kubernetes' k get all -A
expect "api-versions lists apps/v1" '^apps/v1$' k api-versions
# Several documents in one manifest, created with -f (JSON on the wire).
manifest=$(mktemp)
cat >"$manifest" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
  namespace: $ns
data:
  color: blue
  size: "3"
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: $ns
stringData:
  password: s3cret
YAML
expect "create -f with several documents" "namespace/$ns created" k create -f "$manifest"
# Imperative creates: kubectl sends these bodies as protobuf.
expect "create namespace (protobuf body)" "namespace/$ns-imp created" k create namespace "$ns-imp"
expect "create configmap --from-literal" 'configmap/lit created' k -n "$ns-imp" create configmap lit --from-literal=a=1
expect "create secret generic" 'secret/sec created' k -n "$ns-imp" create secret generic sec --from-literal=p=q
expect "create deployment" 'deployment.apps/imp created' k -n "$ns-imp" create deployment imp --image=busybox:local --replicas=2
expect "create job" 'job.batch/once created' k -n "$ns-imp" create job once --image=busybox:local -- true
expect "create cronjob" 'cronjob.batch/tick created' k -n "$ns-imp" create cronjob tick --image=busybox:local --schedule='*/5 * * * *'
expect "create serviceaccount" 'serviceaccount/robot created' k -n "$ns-imp" create serviceaccount robot
expect "create service nodeport" 'service/np created' k -n "$ns-imp" create service nodeport np --tcp=80:8080
expect "service gets a cluster IP and node port" 'np +NodePort +10\.9[6-9]\.[0-9.]+ +<none> +80:3[0-9]{4}/TCP' k -n "$ns-imp" get service np --no-headers
expect "auth can-i" '^yes$' k auth can-i create pods
expect "auth whoami" 'kubernetes-admin' k auth whoami
expect "imperative objects listed" 'deployment.apps/imp' k -n "$ns-imp" get deploy,job,cronjob,cm,secret
expect "delete imperative namespace" "namespace \"$ns-imp\" deleted" k delete namespace "$ns-imp" --wait --timeout=60s
expect "get configmap -o jsonpath" '^blue$' k -n "$ns" get configmap app -o 'jsonpath={.data.color}'
expect "get configmap table" 'app +2 +[0-9]+s' k -n "$ns" get configmap app
expect "label" 'configmap/app labeled' k -n "$ns" label configmap app tier=web
expect "get -l selects by label" '^app ' k -n "$ns" get configmap -l tier=web --no-headers
expect "get -l excludes by label" 'No resources found' k -n "$ns" get configmap -l 'tier in (db)'
expect "get --show-labels" 'tier=web' k -n "$ns" get configmap app --show-labels
expect "annotate" 'configmap/app annotated' k -n "$ns" annotate configmap app owner=me
expect "field selector" '^app ' k -n "$ns" get configmap --field-selector metadata.name=app --no-headers
expect "merge patch" 'configmap/app patched' k -n "$ns" patch configmap app --type merge -p '{"data":{"color":"red"}}'
expect "json patch" 'configmap/app patched' k -n "$ns" patch configmap app --type json -p '[{"op":"remove","path":"/data/size"}]'
expect "patched values" '^red:$' k -n "$ns" get configmap app -o 'jsonpath={.data.color}:{.data.size}'
expect "secret data is base64" '^czNjcmV0$' k -n "$ns" get secret creds -o 'jsonpath={.data.password}'
expect "secret type column" 'creds +Opaque +1' k -n "$ns" get secret creds --no-headers
expect_fail "get missing object is NotFound" 'Error from server \(NotFound\): configmaps "nope" not found' k -n "$ns" get configmap nope
expect_fail "duplicate create is AlreadyExists" 'AlreadyExists|already exists' k create -f "$manifest"
bad=$(mktemp); printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n' >"$bad"
expect_fail "invalid name is 422 Invalid" 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value' k -n "$ns" create -f "$bad"
expect "get -o yaml" 'kind: ConfigMap' k -n "$ns" get configmap app -o yaml
expect "get -A" "$ns +app" k get configmaps -A
expect "chunked list" 'app' k -n "$ns" get configmaps --chunk-size=1
expect "delete configmap" 'configmap "app" deleted' k -n "$ns" delete configmap app
expect_fail "deleted configmap is gone" 'NotFound' k -n "$ns" get configmap app

# Watch: start `get -w`, make changes, and check the events it printed.
watch_out=$(mktemp)
k -n "$ns" get configmaps -w --output-watch-events >"$watch_out" 2>&1 &
watcher=$!
sleep 1
k -n "$ns" create -f - >/dev/null 2>&1 <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: watched}
data: {k: v1}
YAML
k -n "$ns" patch configmap watched --type merge -p '{"data":{"k":"v2"}}' >/dev/null
k -n "$ns" delete configmap watched >/dev/null
sleep 1; kill $watcher 2>/dev/null; wait $watcher 2>/dev/null
expect "get -w sees ADDED" 'ADDED +watched' cat "$watch_out"
expect "get -w sees MODIFIED" 'MODIFIED +watched' cat "$watch_out"
expect "get -w sees DELETED" 'DELETED +watched' cat "$watch_out"

# apply, then apply again with a field removed: the field goes away.
applied=$(mktemp)
cat >"$applied" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: applied, labels: {app: demo}}
data: {keep: "1", drop: "2"}
YAML
expect "apply creates" 'configmap/applied created' k -n "$ns" apply -f "$applied"
sed -i 's/data: {keep: "1", drop: "2"}/data: {keep: "1"}/' "$applied"
expect "apply configures" 'configmap/applied configured' k -n "$ns" apply -f "$applied"
expect "applied field removed" '^1:$' k -n "$ns" get configmap applied -o 'jsonpath={.data.keep}:{.data.drop}'
sed -i 's/keep: "1"/keep: "3"/' "$applied"
kdiff() { "$kubectl" "$@"; [ $? -le 1 ]; }  # diff exits 1 when there are differences
expect "diff shows the change" '\+  keep: "3"' kdiff -n "$ns" diff -f "$applied"
expect "dry-run=server changes nothing" 'configmap/applied configured \(server dry run\)' k -n "$ns" apply -f "$applied" --dry-run=server
expect "dry run left data alone" '^1$' k -n "$ns" get configmap applied -o 'jsonpath={.data.keep}'

# replace and edit
k -n "$ns" get configmap applied -o yaml | sed 's/keep: "1"/keep: "4"/' >"$applied.replace"
expect "replace" 'configmap/applied replaced' k -n "$ns" replace -f "$applied.replace"
editor=$(mktemp); printf '#!/bin/sh\nsed -i "s/keep: \\"4\\"/keep: \\"5\\"/" "$1"\n' >"$editor"; chmod +x "$editor"
expect "edit with KUBE_EDITOR" 'configmap/applied edited' env KUBE_EDITOR="$editor" "$kubectl" -n "$ns" edit configmap applied
expect "edited value" '^5$' k -n "$ns" get configmap applied -o 'jsonpath={.data.keep}'
expect "strategic merge patch" 'configmap/applied patched' k -n "$ns" patch configmap applied -p '{"metadata":{"labels":{"tier":"x"}}}'
expect "custom-columns" 'applied +demo' k -n "$ns" get configmap applied -o custom-columns=NAME:.metadata.name,APP:.metadata.labels.app --no-headers
expect "describe" 'Name: +applied' k -n "$ns" describe configmap applied

# A deployment: create, scale through the scale subresource, wide output.
cat >"$applied.deploy" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox:local, command: [httpd, -f, -p, "8080"]}]
YAML
expect "create deployment" 'deployment.apps/web created' k -n "$ns" create -f "$applied.deploy"
expect "scale deployment" 'deployment.apps/web scaled' k -n "$ns" scale deployment web --replicas=3
expect "scaled replicas" '^3$' k -n "$ns" get deployment web -o 'jsonpath={.spec.replicas}'
expect "get deploy -o wide shows images" 'web +.*busybox:local' k -n "$ns" get deploy web -o wide
expect "get po,deploy,cm" 'deployment.apps/web' k -n "$ns" get po,deploy,cm

# Deletion: by label, --all, then the namespace with --wait.
expect "delete -l" 'configmap "applied" deleted' k -n "$ns" delete configmap -l app=demo
expect "delete --all" 'deleted' k -n "$ns" delete secrets --all
expect "delete namespace --wait" "namespace \"$ns\" deleted" k delete namespace "$ns" --wait --timeout=60s
expect_fail "namespace is gone" 'NotFound' k get namespace "$ns"

echo
echo "kubectl scenario: $pass passed, $fail failed"
if [ $fail -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; exit 1; fi
