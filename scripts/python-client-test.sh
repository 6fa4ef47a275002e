#!/usr/bin/env bash
# Drives a running oxkube (or any Kubernetes API server) with the official
# Python client (`kubernetes` on PyPI): CRUD, watch, 409 on a stale
# resourceVersion, 422 with causes, 404. Needs KUBECONFIG in the environment.
# The client is installed once into a reusable venv under the build directory.
# Usage: KUBECONFIG=... scripts/python-client-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?set KUBECONFIG to the cluster to test}"
venv=${OXKUBE_PY_VENV:-${CARGO_TARGET_DIR:-$HOME/.cache/oxkube-target}/python-client-venv}
if ! "$venv/bin/python" -c 'import kubernetes' >/dev/null 2>&1; then
  echo "installing the kubernetes Python client into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes
fi
echo "python client: kubernetes $("$venv/bin/python" -c 'import kubernetes; print(kubernetes.__version__)')"
exec "$venv/bin/python" tests/python_client.py
