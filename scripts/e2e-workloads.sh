#!/usr/bin/env bash
# Workloads with stock kubectl against a server running the controllers and
# the scheduler (oxkube server): Deployments create ReplicaSets and pods,
# pods are scheduled onto Node objects, scaling and deletion (garbage
# collection) work. Part 1 uses Node objects created with `kubectl create
# -f` (no kubelet: pods stay Pending, and pods of a deleted deployment stay
# Terminating until their Node goes, like upstream). Part 2, when OXKUBE
# names the oxkube binary, runs simulated kubelets (`oxkube kubelet
# --runtime=simulated`) so pods become Ready: rollout status, set image,
# rollout undo. Needs KUBECONFIG; KUBECTL selects the kubectl binary.
set -uo pipefail
. "$(dirname "$0")/lib/expect.sh"
ns=wl-$$
work=$(mktemp -d /tmp/oxkube-wl.XXXXXX)
kubelet_pid=

count() { "$@" 2>/dev/null | grep -c .; }
cleanup() {
  [ -n "$kubelet_pid" ] && kill "$kubelet_pid" 2>/dev/null && wait "$kubelet_pid" 2>/dev/null
  # Nodes without their kubelet would attract pods of later tests.
  k delete node wl-node-a wl-node-b "wl-sim-$$-0" "wl-sim-$$-1" --ignore-not-found >/dev/null 2>&1
  k delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

echo "== workloads with $($kubectl version --client 2>/dev/null | head -1)"
expect "namespace" "namespace/$ns created" k create namespace "$ns"
expect "default ServiceAccount in the new namespace" 'default' k -n "$ns" get serviceaccount default
eventually "kube-root-ca.crt published" 'BEGIN CERTIFICATE' 60 k -n "$ns" get configmap kube-root-ca.crt -o 'jsonpath={.data.ca\.crt}'

# Part 1: Node objects made by hand.
for n in a b; do
  cat >"$work/node-$n.yaml" <<YAML
apiVersion: v1
kind: Node
metadata:
  name: wl-node-$n
  labels:
    kubernetes.io/hostname: wl-node-$n
YAML
  expect "create node wl-node-$n" "node/wl-node-$n created" k create -f "$work/node-$n.yaml"
  expect "node wl-node-$n capacity" "node/wl-node-$n patched" k patch node "wl-node-$n" --subresource=status --type=merge \
    -p '{"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"}}}'
done
expect "create deployment" 'deployment.apps/web created' k -n "$ns" create deployment web --image=busybox:local --replicas=3
eventually "ReplicaSet with pod-template-hash" 'web-[a-z0-9]+ +3 +3' 60 k -n "$ns" get rs
eventually "3 pods scheduled onto the Nodes" '^3$' 60 count k -n "$ns" get pods -o wide --no-headers --field-selector=status.phase=Pending -l app=web -o custom-columns=NODE:.spec.nodeName --no-headers
expect "pods show their node" 'web-[a-z0-9]+-[a-z0-9]+ +0/1 +Pending +0 +[0-9a-z]+ +<none> +wl-node-[ab]' k -n "$ns" get pods -o wide
expect "pod owned by the ReplicaSet" 'ReplicaSet/web-' k -n "$ns" get pods -o 'jsonpath={range .items[*]}{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}{"\n"}{end}'
expect "scale up" 'deployment.apps/web scaled' k -n "$ns" scale deployment web --replicas=5
eventually "5 pods scheduled" '^5$' 60 count k -n "$ns" get pods -l app=web -o 'jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}'
eventually "deployment status counts 5" '^5$' 60 k -n "$ns" get deployment web -o 'jsonpath={.status.replicas}'
eventually "describe shows scaling events" 'Scaled up replica set web-[a-z0-9]+ from 3 to 5' 60 k -n "$ns" describe deployment web
expect "delete deployment" 'deployment.apps "web" deleted' k -n "$ns" delete deployment web --wait=false
eventually "ReplicaSet collected" 'No resources found' 60 k -n "$ns" get rs
eventually "pods terminating (no kubelet confirms)" '^5$' 60 count k -n "$ns" get pods -o 'jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.metadata.name}{"\n"}{end}'
expect "delete the nodes" 'node "wl-node-b" deleted' k delete node wl-node-a wl-node-b
eventually "pods of deleted nodes removed" 'No resources found' 60 k -n "$ns" get pods
expect "a pod that fits nowhere" 'pod/big created' k -n "$ns" run big --image=busybox:local --overrides='{"spec":{"containers":[{"name":"big","image":"busybox:local","resources":{"requests":{"cpu":"64"}}}]}}'
eventually "FailedScheduling event" 'FailedScheduling +pod/big +[0-9]+/[0-9]+ nodes are available|no nodes available to schedule pods' 60 k -n "$ns" get events
expect "PodScheduled=False Unschedulable" 'Unschedulable' k -n "$ns" get pod big -o 'jsonpath={.status.conditions[?(@.type=="PodScheduled")].reason}'
expect "delete the pending pod" 'pod "big" deleted' k -n "$ns" delete pod big

# Part 2: simulated kubelets make pods Ready.
if [ -n "${OXKUBE:-}" ] && "$OXKUBE" kubelet --help >/dev/null 2>&1; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$OXKUBE" kubelet --kubeconfig "$KUBECONFIG" --runtime simulated --simulated-nodes 2 --node-name "wl-sim-$$" \
    --root-dir "$work/kubelet" --pod-logs-dir "$work/logs" --port "$port" >"$work/kubelet.log" 2>&1 &
  kubelet_pid=$!
  eventually "simulated nodes Ready" "wl-sim-$$-1 +Ready" 60 k get nodes
  expect "create deployment" 'deployment.apps/app created' k -n "$ns" create deployment app --image=busybox:local --replicas=3
  expect "rollout status" 'successfully rolled out' k -n "$ns" rollout status deployment/app --timeout=60s
  expect "3 pods Running" '^3$' count k -n "$ns" get pods -l app=app --field-selector=status.phase=Running --no-headers
  expect "scale to 5" 'deployment.apps/app scaled' k -n "$ns" scale deployment app --replicas=5
  expect "rollout status after scale" 'successfully rolled out' k -n "$ns" rollout status deployment/app --timeout=60s
  eventually "5 ready" '^5$' 60 k -n "$ns" get deployment app -o 'jsonpath={.status.readyReplicas}'
  expect "scale to 1" 'deployment.apps/app scaled' k -n "$ns" scale deployment app --replicas=1
  eventually "1 pod left" '^1$' 60 count k -n "$ns" get pods -l app=app --no-headers
  expect "set image" 'deployment.apps/app image updated' k -n "$ns" set image deployment/app busybox=busybox:2
  expect "rollout status after set image" 'successfully rolled out' k -n "$ns" rollout status deployment/app --timeout=60s
  expect "rollout history" '2 +<none>' k -n "$ns" rollout history deployment/app
  expect "rollout undo" 'deployment.apps/app rolled back' k -n "$ns" rollout undo deployment/app
  expect "rollout status after undo" 'successfully rolled out' k -n "$ns" rollout status deployment/app --timeout=60s
  expect "image back after undo" '^busybox:local$' k -n "$ns" get deployment app -o 'jsonpath={.spec.template.spec.containers[0].image}'
  expect "revision 3 after undo" '^3$' k -n "$ns" get deployment app -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}'
  expect "pause" 'deployment.apps/app paused' k -n "$ns" rollout pause deployment/app
  eventually "Progressing reason DeploymentPaused" 'DeploymentPaused' 60 k -n "$ns" get deployment app -o 'jsonpath={.status.conditions[?(@.type=="Progressing")].reason}'
  expect "resume" 'deployment.apps/app resumed' k -n "$ns" rollout resume deployment/app
  expect "delete deployment" 'deployment.apps "app" deleted' k -n "$ns" delete deployment app
  eventually "pods removed" 'No resources found' 60 k -n "$ns" get pods
else
  echo "OXKUBE not set or without a kubelet subcommand: simulated-kubelet part skipped"
fi
expect "delete namespace" "namespace \"$ns\" deleted" k delete namespace "$ns" --wait --timeout=60s

echo
echo "workloads scenario: $pass passed, $fail failed"
if [ $fail -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; exit 1; fi
