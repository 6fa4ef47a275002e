#!/usr/bin/env bash
# Starts a private containerd for the node tests (never the system one): its
# own root, state, socket and config under DIR (default: a new temp dir),
# the overlayfs snapshotter, no CRI plugin. Imports the local busybox test
# image (docker.io/library/busybox:local, built from Debian's busybox-static
# by ../shared/scripts/busybox-image.sh) into the k8s.io namespace.
#
# Usage: scripts/start-containerd.sh [DIR]
# Prints the socket path on stdout; containerd's pid is in DIR/containerd.pid
# and its log in DIR/containerd.log. Stop it with:
#   kill "$(cat DIR/containerd.pid)"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$(mktemp -d /tmp/oxkube-containerd.XXXXXX)}
mkdir -p "$dir/root" "$dir/state"
if [ "$(id -u)" != 0 ]; then echo "start-containerd.sh: must run as root" >&2; exit 1; fi
command -v containerd >/dev/null || { echo "start-containerd.sh: containerd is not installed (scripts/install-deps.sh)" >&2; exit 1; }
sock=$dir/containerd.sock
cat > "$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$sock.debug"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
TOML
containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
echo $! > "$dir/containerd.pid"
for _ in $(seq 1 100); do
  [ -S "$sock" ] && ctr -a "$sock" version >/dev/null 2>&1 && break
  sleep 0.1
done
ctr -a "$sock" version >/dev/null 2>&1 || { echo "start-containerd.sh: containerd did not start, see $dir/containerd.log" >&2; exit 1; }
image_script=${BUSYBOX_IMAGE_SCRIPT:-$here/../../shared/scripts/busybox-image.sh}
archive=$dir/busybox.tar
bash "$image_script" "$archive" docker.io/library/busybox:local >/dev/null
ctr -a "$sock" -n k8s.io images import "$archive" >/dev/null
echo "$sock"
