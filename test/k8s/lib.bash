# shellcheck shell=bash
# lib.bash: a throwaway single-node Kubernetes on the private containerd of
# test/containerd/lib.bash, for the bats suites. Binaries from
# test/k8s/install.sh (DIR/k8s/bin under ${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}).
#
#   k8s_start          the control plane (etcd, kube-apiserver,
#                      kube-controller-manager, kube-scheduler) and a kubelet
#                      on containerd (ctd_start first); returns when the node
#                      is Ready. Its own CA and certificates, ports picked
#                      free, everything under K8S_ROOT.
#   k8s_stop           deletes every pod, stops everything, removes the
#                      pods from containerd, K8S_ROOT, the kubelet's mounts
#                      and its cgroups (ctd_stop after)
#   kubectl ARGS...    kubectl as the cluster's admin
#   k8s_logs [N]       the last N lines of each component's log, on stderr
#
# The kubelet: cgroupfs driver under a cgroup root of its own
# (/k8s-<run id>), failCgroupV1: false (this host's cgroups are hybrid),
# no swap check, no eviction thresholds, its root and pod log dirs under
# K8S_ROOT. kube-apiserver allows privileged pods (the plugin's DaemonSet).

K8S_BIN=${K8S_BIN:-${BPFTOKEN_CACHE:-/var/cache/nri-bpftoken-test}/k8s/bin}
K8S_NODE=${K8S_NODE:-bpftoken-node}

_k8s_err() { echo "k8s: $*" >&2; }

kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$K8S_ROOT/admin.kubeconfig" "$@"; }

# _k8s_port: a free TCP port on 127.0.0.1.
_k8s_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}

# _k8s_cert NAME CN [O] [SAN]: NAME.key and NAME.crt signed by the CA.
_k8s_cert() {
  local name=$1 cn=$2 o=${3:-} san=${4:-} subj ext
  subj="/CN=$cn${o:+/O=$o}"
  ext="$K8S_ROOT/pki/$name.ext"
  {
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$K8S_ROOT/pki/$name.key" -subj "$subj" -out "$K8S_ROOT/pki/$name.csr" 2>/dev/null &&
    openssl x509 -req -in "$K8S_ROOT/pki/$name.csr" -CA "$K8S_ROOT/pki/ca.crt" -CAkey "$K8S_ROOT/pki/ca.key" \
      -CAcreateserial -days 2 -extfile "$ext" -out "$K8S_ROOT/pki/$name.crt" 2>/dev/null
}

# _k8s_kubeconfig NAME: NAME.kubeconfig for the client certificate NAME.
_k8s_kubeconfig() {
  cat >"$K8S_ROOT/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$K8S_API_PORT
    certificate-authority: $K8S_ROOT/pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $K8S_ROOT/pki/$1.crt
    client-key: $K8S_ROOT/pki/$1.key
contexts:
- name: test
  context: {cluster: test, user: $1}
current-context: test
EOF
}

# _k8s_launch NAME ARGS...: start a component in the background, its log in
# K8S_ROOT/NAME.log and its pid in K8S_ROOT/NAME.pid.
_k8s_launch() {
  local name=$1
  shift
  "$K8S_BIN/$name" "$@" >"$K8S_ROOT/$name.log" 2>&1 3>&- &
  echo $! >"$K8S_ROOT/$name.pid"
}

# _k8s_wait WHAT SECS CMD...: until CMD succeeds.
_k8s_wait() {
  local what=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      _k8s_err "$what: not ready after ${secs}s"
      k8s_logs 20
      return 1
    fi
    sleep 0.5
  done
}

k8s_start() {
  [ -n "${CTD_ROOT:-}" ] || { _k8s_err "k8s_start needs the containerd of test/containerd/lib.bash (ctd_start)"; return 1; }
  local n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [ -x "$K8S_BIN/$n" ] || { _k8s_err "$K8S_BIN/$n missing: run test/k8s/install.sh"; return 1; }
  done
  K8S_ROOT=$(mktemp -d /tmp/k8s.XXXXXX)
  export K8S_ROOT
  chmod 0711 "$K8S_ROOT"
  mkdir -p "$K8S_ROOT"/{pki,etcd,kubelet,pod-logs}
  K8S_API_PORT=$(_k8s_port)
  K8S_NODE_IP=$(ip -4 route get 1.1.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
  K8S_CGROUP_ROOT=/k8s-$(basename "$K8S_ROOT" | cut -d. -f2)
  export K8S_API_PORT K8S_NODE_IP K8S_CGROUP_ROOT
  echo "$K8S_CGROUP_ROOT" >"$K8S_ROOT/cgroup-root"
  # The kubelet wants its cgroup root in every hierarchy (v1 and the hybrid
  # host's v2 at unified); a v1 cpuset starts empty, so copy its parent's.
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -f "$h/cgroup.procs" ] || continue
    mkdir -p "$h${K8S_CGROUP_ROOT#/}" || return 1
    if [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" >"$h${K8S_CGROUP_ROOT#/}/cpuset.cpus" &&
        cat "$h/cpuset.mems" >"$h${K8S_CGROUP_ROOT#/}/cpuset.mems" || return 1
    fi
  done
  local etcd_port etcd_peer kubelet_port
  etcd_port=$(_k8s_port)
  etcd_peer=$(_k8s_port)
  kubelet_port=$(_k8s_port)

  # The cluster's CA and certificates.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bpftoken-test-ca -keyout "$K8S_ROOT/pki/ca.key" -out "$K8S_ROOT/pki/ca.crt" 2>/dev/null || return 1
  _k8s_cert apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:10.96.0.1,IP:$K8S_NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" || return 1
  _k8s_cert admin admin system:masters || return 1
  _k8s_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters || return 1
  _k8s_cert kube-controller-manager system:kube-controller-manager || return 1
  _k8s_cert kube-scheduler system:kube-scheduler || return 1
  _k8s_cert kubelet "system:node:$K8S_NODE" system:nodes || return 1
  openssl ecparam -name prime256v1 -genkey -noout -out "$K8S_ROOT/pki/sa.key" 2>/dev/null &&
    openssl ec -in "$K8S_ROOT/pki/sa.key" -pubout -out "$K8S_ROOT/pki/sa.pub" 2>/dev/null || return 1
  for n in admin kube-controller-manager kube-scheduler kubelet; do _k8s_kubeconfig "$n"; done

  _k8s_launch etcd --name test --data-dir "$K8S_ROOT/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "test=http://127.0.0.1:$etcd_peer" --listen-metrics-urls "" --log-level warn
  _k8s_launch kube-apiserver --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$K8S_API_PORT" --advertise-address "$K8S_NODE_IP" \
    --service-cluster-ip-range 10.96.0.0/24 --allow-privileged=true --authorization-mode Node,RBAC \
    --client-ca-file "$K8S_ROOT/pki/ca.crt" \
    --tls-cert-file "$K8S_ROOT/pki/apiserver.crt" --tls-private-key-file "$K8S_ROOT/pki/apiserver.key" \
    --kubelet-client-certificate "$K8S_ROOT/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$K8S_ROOT/pki/apiserver-kubelet-client.key" \
    --service-account-key-file "$K8S_ROOT/pki/sa.pub" --service-account-signing-key-file "$K8S_ROOT/pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --endpoint-reconciler-type none \
    --kubelet-preferred-address-types InternalIP
  _k8s_wait kube-apiserver 90 kubectl get --raw /readyz || return 1
  _k8s_launch kube-controller-manager --kubeconfig "$K8S_ROOT/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$K8S_ROOT/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$K8S_ROOT/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(_k8s_port)" --leader-elect=false \
    --service-account-private-key-file "$K8S_ROOT/pki/sa.key" --root-ca-file "$K8S_ROOT/pki/ca.crt" \
    --use-service-account-credentials
  _k8s_launch kube-scheduler --kubeconfig "$K8S_ROOT/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$K8S_ROOT/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$K8S_ROOT/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(_k8s_port)" --leader-elect=false

  cat >"$K8S_ROOT/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $K8S_NODE_IP
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $K8S_ROOT/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CTD_ROOT/containerd.sock
imageServiceEndpoint: unix://$CTD_ROOT/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: $K8S_CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
podLogsDir: $K8S_ROOT/pod-logs
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: /etc/resolv.conf
registerNode: true
EOF
  _k8s_launch kubelet --config "$K8S_ROOT/kubelet.yaml" --kubeconfig "$K8S_ROOT/kubelet.kubeconfig" \
    --root-dir "$K8S_ROOT/kubelet" --hostname-override "$K8S_NODE" --node-ip "$K8S_NODE_IP" \
    --cert-dir "$K8S_ROOT/kubelet/pki"
  _k8s_wait "node $K8S_NODE" 120 kubectl wait --for=condition=Ready "node/$K8S_NODE" --timeout 1s || return 1
  # The default service account, which every pod needs.
  _k8s_wait "service account default" 60 kubectl -n default get serviceaccount default || return 1
}

k8s_logs() {
  [ -n "${K8S_ROOT:-}" ] || return 0
  local n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    [ -f "$K8S_ROOT/$n.log" ] || continue
    echo "--- tail of $n.log" >&2
    tail -n "${1:-20}" "$K8S_ROOT/$n.log" >&2
  done
}

k8s_stop() {
  [ -n "${K8S_ROOT:-}" ] && [ -d "$K8S_ROOT" ] || return 0
  local n pid rc=0
  # Pods first, while the kubelet is there to stop them.
  kubectl delete pods --all --all-namespaces --grace-period 0 --force --wait=false >/dev/null 2>&1 || true
  kubectl delete daemonsets --all --all-namespaces --wait=false >/dev/null 2>&1 || true
  for n in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
    pid=$(cat "$K8S_ROOT/$n.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # What the kubelet left running in containerd goes before its cgroups.
  ctd_crictl rmp -fa >/dev/null 2>&1 || true
  # The kubelet's mounts (projected service account tokens, ...).
  grep -F " $K8S_ROOT/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$K8S_ROOT" || rc=1
  # Its cgroups, in every hierarchy, once containerd has removed its own.
  local root d
  root=${K8S_CGROUP_ROOT:-}
  if [ -n "$root" ]; then
    for d in /sys/fs/cgroup/*"$root" /sys/fs/cgroup/*/"${root#/}"; do
      [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  fi
  K8S_ROOT=
  return $rc
}
