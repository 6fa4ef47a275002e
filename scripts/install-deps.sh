#!/usr/bin/env bash
# Installs what building and testing oxkube needs on a fresh Debian machine:
# clang/libclang (RocksDB bindings), protoc (etcd protos), etcd 3.4 and
# etcdctl (compatibility tests and benchmarks). Skips what is present.
set -euo pipefail
need=()
command -v clang >/dev/null || need+=(clang libclang-dev)
[ -e /usr/lib/llvm-14/lib/libclang.so ] || [ -n "$(ls /usr/lib/llvm-*/lib/libclang*.so* 2>/dev/null)" ] || need+=(libclang-dev)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
# curl: readiness checks of the end-to-end scripts and the TLS tests.
command -v curl >/dev/null || need+=(curl)
# The node (kubelet) tests: containerd, runc, the CNI plugins, busybox for
# the local test image, ip and nft.
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v kubectl >/dev/null || echo "warning: kubectl is not installed; the kubectl end-to-end tests will be skipped" >&2
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
