# The test world's node (sourced by scripts/testenv for `up --node` and `down`): containerd with runc, a CNI bridge,
# kubelet, kube-scheduler and kube-proxy, configured for this kind of host — root without CAP_SYS_RESOURCE (no
# raised rlimits, no lowered oom_score_adj) and cgroups v1 — and for a world where nothing can be pulled.
# Everything it makes lives under $DATA_DIR/node or carries the names below, and `stop_node` removes it.
# shellcheck shell=bash

NODE_CHAINS_RE='^(KUBE-|CNI-)'

# Refuses to start a second node on the machine: kube-proxy's iptables chains and the node's interfaces are global.
# What a node world left behind when its processes were killed without `down` (a session ended, a clone was
# deleted) is not another world: nothing of it runs, so it is removed and the node starts.
node_preflight() {
  [[ $EUID -eq 0 ]] || die "--node needs root (network interfaces, mounts, iptables)"
  if ! node_world_running && node_leftovers; then
    log "removing what a node world left behind when it was killed without 'down' (none of its processes runs)"
    remove_stale_node_world
  fi
  local link
  for link in "$NODE_IF" "$BRIDGE_IF" "$POD_IDENTITY_IF"; do
    if ip link show "$link" >/dev/null 2>&1; then
      die "interface $link exists: another node world runs on this machine (scripts/testenv down there)"
    fi
  done
  # Something else on the machine (a real Pod Identity agent, another tool) holds the address: leave it alone.
  if [[ -n "$(ip -o addr show to "$POD_IDENTITY_IP/32" 2>/dev/null)" ]]; then
    die "an interface on this machine already holds $POD_IDENTITY_IP: $(ip -o addr show to "$POD_IDENTITY_IP/32" | awk '{print $2}')"
  fi
  if iptables -t nat -S 2>/dev/null | grep -q -- '-N KUBE-SERVICES'; then
    die "iptables chain KUBE-SERVICES exists: another kube-proxy runs on this machine"
  fi
  local net
  for net in "${NODE_IP%.*}." "${POD_CIDR%.*}." "${SERVICE_CIDR%.*}."; do
    if ip -4 -o addr show | grep -v " $NODE_IF \| $BRIDGE_IF " | grep -q " inet ${net//./\\.}"; then
      die "an interface on this machine already uses ${net}0/24; the node's ranges would overlap it"
    fi
  done
}

# The node's address lives on a port-less bridge: this host's kernel has no `dummy` link type.
# Pod Identity's link-local address gets one too (aarpid0). Before any Pod can use that address, the kernel must
# route it `local`: then traffic to it ends on this machine and never leaves it. If not, the world refuses to start.
make_node_interface() {
  ip link add "$NODE_IF" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_IF"
  ip link set "$NODE_IF" up
  ip link add "$POD_IDENTITY_IF" type bridge
  ip addr add "$POD_IDENTITY_IP/32" dev "$POD_IDENTITY_IF"
  ip link set "$POD_IDENTITY_IF" up
  if ! address_is_local "$POD_IDENTITY_IP"; then
    local route; route=$(ip route get "$POD_IDENTITY_IP" 2>&1 | head -1)
    remove_node_interface
    [[ -n "${DATA_DIR:-}" && -d "$DATA_DIR" ]] && rm -rf "$DATA_DIR"
    rm -f "$STATE_FILE"
    die "refusing to start: 'ip route get $POD_IDENTITY_IP' answers '$route', not a local route; traffic to Pod" \
      "Identity's address could leave this machine (interfaces removed)"
  fi
}

# Whether the kernel delivers ADDRESS to this machine itself: `ip route get` answers `local` and the address is in the
# local routing table. A route lookup only: nothing is sent.
address_is_local() { # address
  local got; got=$(ip route get "$1" 2>/dev/null | head -1) || return 1
  [[ "$got" == "local $1 "* ]] || return 1
  ip route show table local "$1" 2>/dev/null | grep -q "^local $1 "
}

remove_node_interface() {
  ip link del "$BRIDGE_IF" 2>/dev/null || true
  ip link del "$NODE_IF" 2>/dev/null || true
  ip link del "$POD_IDENTITY_IF" 2>/dev/null || true
}

# What of the node's network is still on the machine after remove_node_interface (empty: nothing).
node_interfaces_left() {
  local link
  for link in "$NODE_IF" "$BRIDGE_IF" "$POD_IDENTITY_IF"; do
    if ip link show "$link" >/dev/null 2>&1; then echo "$link"; fi
  done
  if address_is_local "$POD_IDENTITY_IP"; then echo "$POD_IDENTITY_IP"; fi
}

node_kubeconfig() { # file token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: testenv
    cluster:
      server: https://$NODE_IP:$APISERVER_PORT
      certificate-authority: $DATA_DIR/apiserver-certs/apiserver.crt
users:
  - name: user
    user:
      token: $2
contexts:
  - name: testenv
    context: { cluster: testenv, user: user }
current-context: testenv
EOF
  chmod 600 "$1"
}

write_node_configs() {
  local n="$DATA_DIR/node"
  mkdir -p "$n/cni/net.d" "$n/cni/ipam" "$n/kubelet" "$n/containerd" "$n/runc"
  CONTAINERD_SOCK="$n/containerd/containerd.sock"
  # containerd 2.x (config version 3). restrict_oom_score_adj: without CAP_SYS_RESOURCE runc cannot lower the
  # score, and every sandbox fails with "can't get final child's PID from pipe: EOF". The sandbox image is a local
  # image pinned here: nothing can be pulled.
  cat >"$n/containerd/config.toml" <<EOF
version = 3
root = "$n/containerd/root"
state = "$n/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "$n/containerd/opt"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
        Root = "$n/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CONTAINERD_BIN/cni"]
    conf_dir = "$n/cni/net.d"
[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$n/containerd/certs.d"
EOF
  # The "ECR" host name goes to the test world's registry on the node's address, over plain HTTP.
  REGISTRY_PORT=$(free_port)
  mkdir -p "$n/containerd/certs.d/$ECR_HOST" "$n/registry"
  cat >"$n/containerd/certs.d/$ECR_HOST/hosts.toml" <<EOF
server = "http://$NODE_IP:$REGISTRY_PORT"
EOF
  head -c 32 /dev/urandom | sha256sum | cut -c1-64 >"$n/registry/token-key"
  # Pods get routes to the node, the Service range and Pod Identity's address only; the host does not forward, so a
  # Pod reaches exactly the addresses of this machine that the test world made.
  cat >"$n/cni/net.d/10-aar.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "aar",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE_IF", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$n/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR" }]],
        "routes": [{ "dst": "$NODE_IP/32" }, { "dst": "$SERVICE_CIDR" }, { "dst": "$POD_IDENTITY_IP/32" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  node_kubeconfig "$n/kubelet.kubeconfig" "$(cat "$DATA_DIR/kubelet-token")"
  node_kubeconfig "$n/admin.kubeconfig" "$(cat "$ADMIN_TOKEN_FILE")"
  KUBELET_HEALTHZ_PORT=$(free_port)
  # Kubelet on cgroups v1 without CAP_SYS_RESOURCE: no QoS cgroups, no node-allocatable enforcement, open files
  # within the hard limit, no oom_score_adj change. Eviction and image GC off so the imported images stay.
  # syncFrequency 2s: a changed Secret reaches mounted volumes within seconds (the default 1m: up to ~90 s).
  # The kubelet API is on the node's address only; the API server calls it anonymously (logs, exec).
  cat >"$n/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: { enabled: true }
  webhook: { enabled: false }
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
maxOpenFiles: 20000
oomScoreAdj: 0
syncFrequency: 2s
resolvConf: ""
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "0%"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  imagefs.inodesFree: "0%"
EOF
  # iptables mode; NodePorts only on the node's address; conntrack limits left as the host has them (no sysctl writes).
  cat >"$n/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $n/admin.kubeconfig }
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

start_node() {
  local n="$DATA_DIR/node" kubectl_admin=(kubectl --kubeconfig "$STATE_DIR/kubeconfig")
  write_node_configs
  nohup env PATH="$CONTAINERD_BIN:$PATH" "$CONTAINERD_BIN/containerd" --config "$n/containerd/config.toml" \
    >"$LOG_DIR/containerd.log" 2>&1 9>&- &
  CONTAINERD_PID=$!
  write_state
  wait_for containerd 30 "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" version
  import_pause_image
  nohup "$REGISTRY_BIN/registry" -addr "$NODE_IP:$REGISTRY_PORT" -key-file "$n/registry/token-key" \
    >"$LOG_DIR/registry.log" 2>&1 9>&- &
  REGISTRY_PID=$!
  write_state

  # The kubelet's identity (group system:nodes) gets the node role; there is no Node authorizer in this world.
  "${kubectl_admin[@]}" apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "aar-testenv:nodes" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node" }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:nodes" }]
EOF
  nohup "$NODE_BIN/kubelet" --config="$n/kubelet-config.yaml" --kubeconfig="$n/kubelet.kubeconfig" \
    --root-dir="$n/kubelet" --cert-dir="$n/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    >"$LOG_DIR/kubelet.log" 2>&1 9>&- &
  KUBELET_PID=$!
  nohup "$NODE_BIN/kube-scheduler" --kubeconfig="$n/admin.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$(free_port)" >"$LOG_DIR/kube-scheduler.log" 2>&1 9>&- &
  SCHEDULER_PID=$!
  nohup "$NODE_BIN/kube-proxy" --config="$n/kube-proxy-config.yaml" >"$LOG_DIR/kube-proxy.log" 2>&1 9>&- &
  KUBE_PROXY_PID=$!
  write_state
  wait_for "node $NODE_NAME Ready" 90 "${kubectl_admin[@]}" wait --for=condition=Ready --timeout=1s "node/$NODE_NAME"
  wait_for "kube-proxy rules for the kubernetes Service" 60 node_service_rules
  alive "$SCHEDULER_PID" || die "kube-scheduler exited (see $LOG_DIR/kube-scheduler.log)"
}

node_service_rules() { iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q "default/kubernetes:https"; }

import_pause_image() {
  local tmp; tmp=$(mktemp -d)
  cp "$CONTAINERD_BIN/pause" "$ROOT/testenv/containerd/pause/Containerfile" "$tmp/"
  podman --runtime runc --cgroup-manager=cgroupfs build --quiet --network=none --tag "$PAUSE_IMAGE" "$tmp" >/dev/null
  rm -rf "$tmp"
  podman save --quiet --format oci-archive "$PAUSE_IMAGE" |
    "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" --namespace k8s.io images import - >/dev/null
}

# Stops the node and removes what it made: containers (through runc, which containerd's shims drive), shims,
# processes, mounts under the node's directory (Pod volumes, network namespaces, snapshots), iptables chains.
stop_node() {
  local n="$DATA_DIR/node" id pid t0=$SECONDS
  stop_pid "${KUBELET_PID:-}"
  stop_pid "${SCHEDULER_PID:-}"
  if [[ -d "$n/runc/k8s.io" ]]; then
    for id in $(runc --root "$n/runc/k8s.io" list -q 2>/dev/null); do
      runc --root "$n/runc/k8s.io" kill "$id" KILL 2>/dev/null || true
      runc --root "$n/runc/k8s.io" delete --force "$id" 2>/dev/null || true
    done
  fi
  # containerd's shims for this world name its socket on their command line.
  if [[ -n "${CONTAINERD_SOCK:-}" ]]; then
    # Their containers are gone already; a shim holds nothing worth a graceful stop.
    for pid in $(pgrep -f -- "-address $CONTAINERD_SOCK" || true); do kill -9 "$pid" 2>/dev/null || true; done
  fi
  stop_pid "${CONTAINERD_PID:-}"
  stop_pid "${KUBE_PROXY_PID:-}"
  stop_pid "${REGISTRY_PID:-}"
  # The machine-wide parts (iptables chains; in cmd_down the interfaces) belong to whichever node world runs: a
  # clone whose world was killed long ago must not tear down another clone's live node.
  if node_world_running; then
    log "another node world runs on this machine; its interfaces and iptables chains are left to it"
  else
    if [[ -x "$NODE_BIN/kube-proxy" ]]; then "$NODE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
    remove_node_chains
  fi
  # Unmount deepest first (Secret tmpfs volumes, network namespaces, overlay snapshots).
  if [[ -d "$n" ]]; then
    awk -v d="$n/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  fi
  # runc leaves one empty cgroup parent per controller (rmdir fails on one still in use).
  rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
  log "node stopped and removed in $((SECONDS - t0))s"
}

# Any test world's node process on this machine, from whichever clone: they all run out of a DATA_DIR named
# aar-testenv.* and name it (or the node's name) on their command line.
node_world_running() {
  pgrep -f -- "aar-testenv\.[A-Za-z0-9]+/node/|--hostname-override=$NODE_NAME" >/dev/null 2>&1
}

node_leftovers() {
  ip link show "$NODE_IF" >/dev/null 2>&1 || ip link show "$BRIDGE_IF" >/dev/null 2>&1 ||
    ip link show "$POD_IDENTITY_IF" >/dev/null 2>&1 ||
    iptables -t nat -S 2>/dev/null | grep -qE -- "-N $NODE_CHAINS_RE" ||
    awk '$2 ~ /\/aar-testenv\.[A-Za-z0-9]+\/node\// { found = 1 } END { exit !found }' /proc/self/mounts
}

remove_stale_node_world() {
  if [[ -x "$NODE_BIN/kube-proxy" ]]; then "$NODE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  remove_node_chains
  awk '$2 ~ /\/aar-testenv\.[A-Za-z0-9]+\/node\// { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  remove_node_interface
  rmdir /sys/fs/cgroup/*/k8s.io 2>/dev/null || true
}

# Chains kube-proxy's cleanup leaves (and the CNI portmap plugin's), in every table.
remove_node_chains() {
  local table chain
  for table in nat filter mangle; do
    iptables -t "$table" -S 2>/dev/null | awk '$1 == "-A" && $0 ~ /-j (KUBE-|CNI-)/' | sed 's/^-A /-D /' |
      while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" { print $2 }' | grep -E "$NODE_CHAINS_RE" || true); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" { print $2 }' | grep -E "$NODE_CHAINS_RE" || true); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}
