#!/usr/bin/env bash
# End-to-end: starts a real `oxkube server` on a fresh data dir and a free
# loopback port, runs the stock-kubectl scenario and the conformance suite
# against it, and stops it. Usage: scripts/e2e.sh [path/to/oxkube]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/oxkube-target}/debug/oxkube}
work=$(mktemp -d /tmp/oxkube-e2e.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Compaction every 30 s (kube-apiserver: 5 min) so that the conformance test
# of lists continued past compaction finishes in about a minute.
"$bin" server --data-dir "$work/data" --secure-port "$port" --etcd-compaction-interval 30s >"$work/server.log" 2>&1 &
server=$!
sim=""
cleanup() {
  [ -n "$sim" ] && { kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true; }
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
export KUBECONFIG="$work/data/admin.kubeconfig"
for _ in $(seq 1 100); do
  [ -f "$KUBECONFIG" ] && curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -skf "https://127.0.0.1:$port/readyz" >/dev/null; then
  echo "oxkube server did not become ready:"; cat "$work/server.log"; exit 1
fi
status=0
if command -v kubectl >/dev/null; then
  scripts/e2e-kubectl.sh || status=1
  OXKUBE="$bin" scripts/e2e-workloads.sh || status=1
  scripts/e2e-ssa.sh || status=1
  scripts/e2e-crd.sh || status=1
  scripts/e2e-node.sh "$bin" || status=1
  # Older and newer stock kubectl binaries, where the machine has them.
  for v in 1.32 1.33; do
    alt=/usr/lib/google-cloud-sdk/bin/kubectl.$v
    if [ -x "$alt" ]; then KUBECTL=$alt scripts/e2e-kubectl.sh || status=1; fi
  done
else
  echo "kubectl not installed: kubectl scenario skipped"
fi
scripts/python-client-test.sh || status=1
# Two simulated nodes (pods go Running without containers), so the tests
# that need scheduled, Running pods (scheduling, preemption, controllers)
# run here; those that look inside containers run in scripts/e2e-node.sh.
"$bin" kubelet --kubeconfig "$KUBECONFIG" --runtime=simulated --simulated-nodes 2 --node-name e2e-sim --port 0 >"$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 1 100); do
  [ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready')" -ge 2 ] && break
  sleep 0.2
done
"$bin" conformance --kubeconfig "$KUBECONFIG" --known-gaps conformance/known-gaps.tsv --junit "${CARGO_TARGET_DIR:-/tmp}/conformance-junit.xml" || status=1
if [ $status -ne 0 ]; then
  echo "---- server log (last 50 lines)"; tail -50 "$work/server.log"
fi
exit $status
