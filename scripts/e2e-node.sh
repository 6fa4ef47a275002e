#!/usr/bin/env bash
# The node scenario with stock kubectl (issue 6, "How it is shown"): starts a
# private containerd (scripts/start-containerd.sh) and its own
# `oxkube server --with-node` on a free port and data dir, then: a
# Deployment of busybox httpd (3 replicas) rolls out with pod IPs, logs,
# a pod (and kubectl exec in another) fetches a page from another pod's
# IP, exec exit codes and stdin, kubectl port-forward to the Deployment
# (kubectl 1.32/1.33: SPDY tunnelled in a WebSocket; 1.27: direct SPDY),
# kubectl attach and run -i --rm, exec over SPDY (1.27), scale 5 then 1, set image
# to a missing image (ErrImagePull) then rollout undo, a failing liveness
# probe restarts its container, and deleting the Deployment leaves
# containerd without containers. Then 100 simulated nodes run 1000 pods.
# Skipped (exit 0, with a message) when not root or containerd is missing.
# Usage: scripts/e2e-node.sh [path/to/oxkube]; KUBECTL selects kubectl.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/oxkube-target}/debug/oxkube}
. "$(dirname "$0")/lib/expect.sh"
if [ "$(id -u)" != 0 ] || ! command -v containerd >/dev/null || [ ! -x /usr/lib/cni/bridge ]; then
  echo "SKIPPED e2e-node: needs root, containerd and the CNI plugins (scripts/install-deps.sh)"
  exit 0
fi

work=$(mktemp -d /tmp/oxkube-e2e-node.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); kport=$(free_port)
sock=$(scripts/start-containerd.sh "$work/containerd") || { echo "containerd did not start"; exit 1; }
bridge=oxke$((RANDOM % 1000))
"$bin" server --data-dir "$work/data" --secure-port "$port" --with-node --node-name e2e-node \
  --container-runtime-endpoint "unix://$sock" --root-dir "$work/kubelet" --pod-logs-dir "$work/logs" \
  --port "$kport" --cni-bridge "$bridge" --pod-cidr 10.77.0.0/24 >"$work/server.log" 2>&1 &
server=$!
sim=""
cleanup() {
  [ -n "$sim" ] && kill "$sim" 2>/dev/null
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
  for t in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  sleep 0.5
  for t in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do ctr -a "$sock" -n k8s.io tasks rm -f "$t" >/dev/null 2>&1; done
  for c in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do ctr -a "$sock" -n k8s.io containers rm "$c" >/dev/null 2>&1; done
  kill "$(cat "$work/containerd/containerd.pid")" 2>/dev/null
  for n in $(ls "$work/kubelet/pods" 2>/dev/null); do ip netns delete "oxkube-$n" 2>/dev/null; done
  ip link delete "$bridge" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export KUBECONFIG="$work/data/admin.kubeconfig"
for _ in $(seq 1 100); do
  [ -f "$KUBECONFIG" ] && curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== node scenario (kubectl $($kubectl version --client 2>/dev/null | head -1))"
eventually "node registers and is Ready" 'e2e-node +Ready' 30 k get nodes
expect "node reports containerd" 'containerd://' k get node e2e-node -o jsonpath='{.status.nodeInfo.containerRuntimeVersion}'
expect "lease in kube-node-lease" 'e2e-node' k get lease -n kube-node-lease e2e-node
expect "create deployment" 'deployment.apps/web created' k create deployment web --image=busybox:local --replicas=3 -- httpd -f -v -p 8080 -h /etc
expect "rollout status" 'successfully rolled out' k rollout status deployment/web --timeout=120s
expect "three pods Running with IPs" '^(10\.77\.0\.[0-9]+ ){3}$' k get pods -l app=web --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.status.podIP}{" "}{end}'
ip1=$(k get pods -l app=web -o jsonpath='{.items[0].status.podIP}')
name1=$(k get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
k run fetch --image=busybox:local --restart=Never -- wget -qO- "http://$ip1:8080/hostname" >/dev/null
eventually "a pod fetches a page from another pod's IP" "^$name1\$" 60 k logs fetch
eventually "kubectl logs shows the request" 'response:200' 30 k logs "$name1"
name2=$(k get pods -l app=web -o jsonpath='{.items[1].metadata.name}')
expect "kubectl exec fetches a page from another pod's IP" "^$name1\$" k exec "$name2" -- wget -qO- "http://$ip1:8080/hostname"
expect_fail "kubectl exec passes the exit code" 'exit code 3' k exec "$name2" -- sh -c 'exit 3'
expect "kubectl exec -i streams stdin" '^hello$' sh -c "echo hello | $kubectl exec -i $name2 -- cat"
echo "== streaming: port-forward, attach, exec over SPDY"
sdk=/usr/lib/google-cloud-sdk/bin
# pf KUBECTL: the page /hostname through `KUBECTL port-forward` to the
# Deployment on a free loopback port (kubectl's -v=6 log in $work/pf.log).
pf() {
  local kc=$1 lport out="" pid
  lport=$(free_port)
  "$kc" port-forward deployment/web "$lport:8080" -v=6 >"$work/pf.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    out=$(curl -sf --max-time 5 "http://127.0.0.1:$lport/hostname") && break
    sleep 0.2
  done
  # A second connection on the same session.
  out="$out $(curl -sf --max-time 5 "http://127.0.0.1:$lport/hostname")"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "$out"
}
# pf_big KUBECTL: the size of a 20 MiB file fetched through port-forward
# (flow control and back-pressure over many frames).
pf_big() {
  local kc=$1 lport pid size=0
  lport=$(free_port)
  "$kc" port-forward "pod/$name2" "$lport:8080" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    size=$(curl -sf --max-time 60 "http://127.0.0.1:$lport/big" | wc -c) && [ "$size" -gt 0 ] && break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "$size"
}
k exec "$name2" -- sh -c 'head -c 20971520 /dev/zero > /etc/big'
expect "kubectl port-forward carries 20 MiB" '^20971520$' pf_big "$kubectl"
for v in 1.32 1.33; do
  if [ ! -x "$sdk/kubectl.$v" ]; then echo "skip  kubectl $v is not installed"; continue; fi
  expect "kubectl $v port-forward (SPDY in a WebSocket) serves the page twice" '^web-[^ ]+ web-' pf "$sdk/kubectl.$v"
  expect "kubectl $v port-forward negotiated the WebSocket tunnel" 'tunneling_dialer.*negotiated protocol: portforward.k8s.io' cat "$work/pf.log"
  expect_no "kubectl $v port-forward did not fall back to a direct SPDY upgrade" 'fallback|falling back' cat "$work/pf.log"
done
k127=$sdk/kubectl.1.27
if [ -x "$k127" ]; then
  expect "kubectl 1.27 port-forward (direct SPDY) serves the page twice" '^web-[^ ]+ web-' pf "$k127"
  expect "kubectl 1.27 port-forward (direct SPDY) carries 20 MiB" '^20971520$' pf_big "$k127"
  expect "kubectl 1.27 exec (SPDY) streams stdin" '^hello$' sh -c "echo hello | timeout 60 $k127 exec -i $name2 -- cat"
  expect_fail "kubectl 1.27 exec (SPDY) passes the exit code" 'exit code 3' "$k127" exec "$name2" -- sh -c 'exit 3'
  expect "kubectl 1.27 exec (SPDY) separates stderr" '^out$' sh -c "$k127 exec $name2 -- sh -c 'echo out; echo err >&2' 2>/dev/null"
else
  echo "skip  kubectl 1.27 is not installed"
fi
cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:local
    command: ["sh", "-c", "i=0; while true; do echo tick \$i; i=\$((i+1)); sleep 0.5; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:local
    stdin: true
    stdinOnce: true
    command: ["sh", "-c", "read x; echo got \$x; exit 0"]
YAML
eventually "ticker and reader Running" '^Running Running$' 60 k get pod ticker reader -o jsonpath='{.items[0].status.phase} {.items[1].status.phase}'
attach_for() { timeout 3 "$@"; true; }
expect "kubectl attach streams live output" 'tick [0-9]+' attach_for "$kubectl" attach ticker
[ -x "$k127" ] && expect "kubectl 1.27 attach (SPDY) streams live output" 'tick [0-9]+' attach_for "$k127" attach ticker
expect "kubectl attach -i delivers stdin" 'got hello' sh -c "echo hello | timeout 60 $kubectl attach -i reader"
# run_i KUBECTL NAME WORD: `kubectl run NAME -i --rm` fed "WORD\nmore\n",
# with a container that reads a line, then the rest of its input (with
# stdinOnce, the end of kubectl's input ends it); the output on one line.
run_i() { printf '%s\nmore\n' "$3" | timeout 60 "$1" run "$2" -i --rm --restart=Never --image=busybox:local -- sh -c 'read x; echo got $x; cat; echo end' | tr '\n' ' '; }
expect "kubectl run -i --rm attaches, ends stdin, cleans up" 'got world more end pod "talk" deleted' run_i "$kubectl" talk world
[ -x "$k127" ] && for i in 1 2 3; do
  expect "kubectl 1.27 run -i --rm (SPDY attach) #$i" "got spdy$i more end pod \"talk127-$i\" deleted" run_i "$k127" "talk127-$i" "spdy$i"
done
k delete pod ticker reader --wait=false >/dev/null 2>&1
expect "kubectl logs --tail --timestamps" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z ' k logs fetch --tail=1 --timestamps
expect_follow() { timeout 3 "$kubectl" logs -f "$name1"; true; }
expect "kubectl logs -f streams" 'response:200' expect_follow
expect "scale to 5" 'scaled' k scale deployment web --replicas=5
eventually "5 ready replicas" '^5$' 90 k get deployment web -o jsonpath='{.status.readyReplicas}'
expect "scale to 1" 'scaled' k scale deployment web --replicas=1
eventually "1 ready replica" '^1$' 90 k get deployment web -o jsonpath='{.status.readyReplicas}'
expect "set image to a missing image" 'image updated' k set image deployment/web busybox=busybox:missing
eventually "missing image reports ErrImagePull/ImagePullBackOff" 'ErrImagePull|ImagePullBackOff' 60 k get pods -l app=web
expect "rollout undo" 'rolled back' k rollout undo deployment/web
expect "rollout status after undo" 'successfully rolled out' k rollout status deployment/web --timeout=120s
cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: unhealthy}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: busybox:local
    command: ["sh", "-c", "touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 3600"]
    livenessProbe:
      exec: {command: ["test", "-f", "/tmp/ok"]}
      periodSeconds: 1
      failureThreshold: 1
YAML
eventually "failing liveness probe restarts the container" '^[1-9][0-9]*$' 60 k get pod unhealthy -o jsonpath='{.status.containerStatuses[0].restartCount}'
expect "Unhealthy event" 'Liveness probe failed' k get events --field-selector involvedObject.name=unhealthy
expect "delete deployment" 'deleted' k delete deployment web
k delete pod unhealthy fetch --wait=false >/dev/null 2>&1
eventually "pods are gone" 'No resources found' 120 k get pods
eventually "containerd lists no containers" '^0$' 60 sh -c "ctr -a '$sock' -n k8s.io containers ls -q | wc -l"

echo "== conformance tests that need a node, on this node"
# Every test pod uses the local busybox image (no registry here).
expect "node conformance tests pass" ' 0 failed, 0 skipped$' \
  env OXKUBE_CONFORMANCE_IMAGE=docker.io/library/busybox:local "$bin" conformance \
  --kubeconfig "$KUBECONFIG" --focus '\[NodeConformance\]|DisruptionController should (observe|update|block)|ServiceAccounts should mount|Security Context should support|Variable Expansion should .*subpath|PreStop should'

echo "== 100 simulated nodes, 1000 pods"
expect "cordon the real node" 'cordoned' k cordon e2e-node
"$bin" kubelet --kubeconfig "$KUBECONFIG" --runtime=simulated --simulated-nodes 100 --node-name sim --port 10250 >"$work/sim.log" 2>&1 &
sim=$!
eventually "100 simulated nodes Ready" '^100$' 60 sh -c "$kubectl get nodes --no-headers | grep -c '^sim-.* Ready'"
k create deployment many --image=busybox:local --replicas=1000 >/dev/null
eventually "1000 pods scheduled and Running on simulated nodes" '^1000$' 300 k get deployment many -o jsonpath='{.status.readyReplicas}'
expect "pods spread over the simulated nodes" '^([1-9][0-9]?|100)$' sh -c "$kubectl get pods -l app=many -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | sort -u | wc -l | tr -d ' '"

echo "== e2e-node: $pass passed, $fail failed"
if [ $fail -ne 0 ]; then
  printf '   failed: %s\n' "${failures[@]}"
  echo "---- server log (last 40 lines)"; tail -40 "$work/server.log"
  exit 1
fi
