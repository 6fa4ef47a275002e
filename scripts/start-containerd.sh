#!/usr/bin/env bash
# Starts a private containerd for the node tests (never the system one): its
# own root, state, socket and config under DIR (default: a new temp dir),
# the overlayfs snapshotter, no CRI plugin. Imports the local busybox test
# image (docker.io/library/busybox:local, built from Debian's busybox-static
# by ../shared/scripts/busybox-image.sh, or by the same steps below when that
# script is absent) into the k8s.io namespace.
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
if [ -f "$image_script" ]; then
  bash "$image_script" "$archive" docker.io/library/busybox:local >/dev/null
else
  # No shared image script (e.g. a fresh clone elsewhere): build the same
  # one-layer OCI archive here from Debian's busybox-static.
  python3 - "$archive" <<'PY'
import hashlib, io, json, os, shutil, sys, tarfile
out = sys.argv[1]
busybox = shutil.which("busybox") or "/bin/busybox"
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    def add_dir(name):
        info = tarfile.TarInfo(name); info.type = tarfile.DIRTYPE; info.mode = 0o755; t.addfile(info)
    def add_file(name, data, mode=0o644):
        info = tarfile.TarInfo(name); info.size = len(data); info.mode = mode; t.addfile(info, io.BytesIO(data))
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"]:
        add_dir(d)
    add_file("bin/busybox", open(busybox, "rb").read(), 0o755)
    applets = os.popen(f"{busybox} --list").read().split()
    for a in applets:
        if a != "busybox":
            info = tarfile.TarInfo(f"bin/{a}"); info.type = tarfile.SYMTYPE; info.linkname = "busybox"; t.addfile(info)
    add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    add_file("etc/group", b"root:x:0:\n")
blobs = {}
def blob(data):
    d = hashlib.sha256(data).hexdigest(); blobs[d] = data; return d, len(data)
layer_digest, layer_size = blob(layer.getvalue())
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
                     "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]}}).encode()
config_digest, config_size = blob(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{config_digest}", "size": config_size},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{layer_digest}", "size": layer_size}]}).encode()
manifest_digest, manifest_size = blob(manifest)
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": f"sha256:{manifest_digest}", "size": manifest_size,
    "annotations": {"io.containerd.image.name": "docker.io/library/busybox:local", "org.opencontainers.image.ref.name": "local"}}]}).encode()
with tarfile.open(out, "w") as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
    add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    add("index.json", index)
    for d, data in blobs.items():
        add(f"blobs/sha256/{d}", data)
PY
fi
ctr -a "$sock" -n k8s.io images import "$archive" >/dev/null
echo "$sock"
