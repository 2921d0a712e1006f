#!/usr/bin/env bash
# Installs the Debian packages (and the one PyPI package) Clipper's tests and benchmarks need. Idempotent: packages
# already installed are left alone, and apt-get runs only when something is missing.
set -euo pipefail

PACKAGES=(
  etcd-server                 # the HA store backend; tests start their own etcd on loopback
  protobuf-compiler           # protoc, for etcd-client's generated gRPC code
  runc crun                   # OCI runtimes for the node agent
  busybox-static              # root filesystem for test containers
  containernetworking-plugins # CNI plugins: bridge, host-local, loopback, portmap
  iproute2                    # ip netns / veth for multi-host tests
  util-linux                  # unshare (pod network namespaces), nsenter (the agent's tests)
  bsdutils                    # script(1): a pty for the clipper exec -t test
  nftables                    # the proxy's return path for kept client source addresses
  procps                      # ps/pkill used by process tests
  curl                        # raw HTTPS requests in the bad-input tests
  haproxy                     # proxy-bench: HAProxy (mode tcp) beside Clipper's proxy
  nginx libnginx-mod-stream   # proxy-bench: HTTP backend and nginx's stream (L4) proxy
  wrk                         # proxy-bench: HTTP load generator
  ipvsadm                     # proxy-bench: IPVS, the kernel L4 balancer, as the reference
  fonts-dejavu-core           # proxy-bench: the font of its PNG plot
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# The official Python client, which tests/python/client.py drives against the API server.
PY_KUBERNETES=33.1.0
if python3 -c "import sys, kubernetes; sys.exit(kubernetes.__version__ != '$PY_KUBERNETES')" 2>/dev/null; then
  echo "install-deps: python kubernetes $PY_KUBERNETES present"
else
  echo "install-deps: installing python kubernetes==$PY_KUBERNETES"
  python3 -m pip install --quiet --disable-pip-version-check "kubernetes==$PY_KUBERNETES"
fi
