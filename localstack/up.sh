#!/usr/bin/env bash
# Starts the local test environment: etcd + a real kube-apiserver (token auth, RBAC) and a moto
# server standing in for AWS (EC2, ELBv2). No Docker, no kubelet, no controller-manager.
#
#   bash localstack/up.sh [STATE_DIR]      (default: $BERTH_STATE_DIR or /tmp/berth-localstack)
#   source STATE_DIR/env                   (exports the BERTH_TEST_* and AWS_* variables)
#   bash localstack/down.sh [STATE_DIR]
#
# Restarts from scratch when something already runs for STATE_DIR (fresh etcd, new certs and
# tokens, new ports). Binaries, the moto venv and the helm venv (helm-venv.sh) are cached in $BERTH_CACHE
# (default ${XDG_CACHE_HOME:-$HOME/.cache}/berth).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${1:-${BERTH_STATE_DIR:-/tmp/berth-localstack}}"
CACHE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
BIN="$CACHE/bin"
VENV="$CACHE/moto-venv"
MOTO_REQ="moto[server]==5.2.5"
READY_TIMEOUT="${BERTH_READY_TIMEOUT:-90}"

log() { echo "localstack: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
START_NS=$(date +%s%N)

# ---------------------------------------------------------------- prerequisites
if ! missing="$(bash "$HERE/deps.sh" --check)"; then
  die "missing system packages: $missing. Fix: run 'bash localstack/deps.sh' as root (or: apt-get install -y $missing)"
fi

mkdir -p "$STATE_DIR" || die "cannot create state dir $STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"

# Stop whatever an earlier up.sh left running for this STATE_DIR.
bash "$HERE/down.sh" "$STATE_DIR"

# If anything below fails, do not leave half an environment running.
on_exit() {
  local rc=$?
  if ((rc != 0)); then
    log "up.sh failed (exit $rc); stopping what it started. Logs: $STATE_DIR/*.log"
    bash "$HERE/down.sh" "$STATE_DIR" || true
  fi
}
trap on_exit EXIT

# ---------------------------------------------------------------- binaries
bash "$HERE/build-kube-apiserver.sh" >&2 \
  || die "building kube-apiserver failed; see the output above and $CACHE/build/make.log"
[[ -x "$BIN/kube-apiserver" && -x "$BIN/etcd" ]] \
  || die "$BIN/kube-apiserver or $BIN/etcd missing after build-kube-apiserver.sh; delete $CACHE/bin and retry"

# ---------------------------------------------------------------- moto venv
STAMP="$VENV/.berth-installed"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "creating Python venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" \
    || die "python3 -m venv failed; install python3-venv (apt-get install -y python3-venv)"
fi
if [[ ! -x "$VENV/bin/moto_server" || "$(cat "$STAMP" 2>/dev/null)" != "$MOTO_REQ" ]]; then
  log "installing $MOTO_REQ into $VENV (first run only; ~1 min)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$MOTO_REQ" >&2 \
    || die "pip install '$MOTO_REQ' failed; check that PyPI is reachable (proxy/PIP_INDEX_URL), or delete $VENV and retry"
  echo "$MOTO_REQ" > "$STAMP"
fi

# ---------------------------------------------------------------- helm venv (chart tests)
HELM_PYTHON="$(bash "$HERE/helm-venv.sh" | tail -n 1)" \
  || die "localstack/helm-venv.sh failed (output above)"
[[ -x "$HELM_PYTHON" ]] || die "helm-venv.sh printed no python path (got '$HELM_PYTHON')"

# ---------------------------------------------------------------- ports
read -r ETCD_PORT ETCD_PEER_PORT API_PORT MOTO_PORT < <(python3 - <<'PY'
import socket
socks = []
for _ in range(4):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
) || die "could not pick free ports with python3"
[[ -n "${MOTO_PORT:-}" ]] || die "could not pick free ports with python3"
log "ports: etcd=$ETCD_PORT etcd-peer=$ETCD_PEER_PORT kube-apiserver=$API_PORT moto=$MOTO_PORT"

# ---------------------------------------------------------------- certificates and tokens
PKI="$STATE_DIR/pki"
rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
log "generating CA, server certificate and service-account key in $PKI"
cat > "$PKI/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
CNF
{
  openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -config "$PKI/openssl.cnf" -extensions v3_ca -subj "/CN=berth-localstack-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt"
  openssl req -new -newkey rsa:2048 -nodes -sha256 \
    -config "$PKI/openssl.cnf" -subj "/CN=localhost" \
    -keyout "$PKI/server.key" -out "$PKI/server.csr"
  openssl x509 -req -sha256 -days 825 -in "$PKI/server.csr" \
    -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$PKI/openssl.cnf" -extensions v3_leaf -out "$PKI/server.crt"
  openssl genrsa -out "$PKI/sa.key" 2048
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  openssl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt"
} >"$PKI/openssl.log" 2>&1 || { cat "$PKI/openssl.log" >&2; die "openssl failed (output above)"; }

ADMIN_TOKEN="$(openssl rand -hex 24)"
TENANT_TOKEN="$(openssl rand -hex 24)"
# token,user,uid,"group1,group2"
cat > "$PKI/tokens.csv" <<CSV
$ADMIN_TOKEN,berth-admin,berth-admin,"system:masters"
$TENANT_TOKEN,berth-tenant,berth-tenant,"berth-tenants"
CSV
chmod 600 "$PKI/tokens.csv"

# ---------------------------------------------------------------- process helper
# start NAME CMD...: runs CMD detached (own session, no tty, no inherited stdio), logging to
# STATE_DIR/NAME.log and recording its pid in STATE_DIR/NAME.pid.
start() {
  local name="$1"; shift
  setsid "$@" >"$STATE_DIR/$name.log" 2>&1 </dev/null &
  echo $! > "$STATE_DIR/$name.pid"
}
alive() { kill -0 "$(cat "$STATE_DIR/$1.pid")" 2>/dev/null; }
fail_with_log() {
  log "---- last 30 lines of $STATE_DIR/$1.log ----"
  tail -n 30 "$STATE_DIR/$1.log" >&2 || true
  die "$2"
}

# ---------------------------------------------------------------- etcd
rm -rf "$STATE_DIR/etcd-data"
log "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$BIN/etcd" --name berth --data-dir "$STATE_DIR/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "berth=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
  --quota-backend-bytes $((2 * 1024 * 1024 * 1024)) --logger zap --log-level warn
for ((i = 0; i < 150; i++)); do
  alive etcd || fail_with_log etcd "etcd exited during startup"
  curl -fsS -m 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"' && break
  sleep 0.2
done
((i < 150)) || fail_with_log etcd "etcd not healthy after 30 s"

# ---------------------------------------------------------------- kube-apiserver
API_URL="https://127.0.0.1:$API_PORT"
log "starting kube-apiserver on $API_URL"
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --secure-port "$API_PORT" --advertise-address 127.0.0.1 \
  --endpoint-reconciler-type none \
  --authorization-mode RBAC \
  --token-auth-file "$PKI/tokens.csv" \
  --client-ca-file "$PKI/ca.crt" \
  --tls-cert-file "$PKI/server.crt" --tls-private-key-file "$PKI/server.key" \
  --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-cluster-ip-range 10.96.0.0/16 \
  --disable-admission-plugins ServiceAccount \
  --profiling=false \
  --v 1
# moto imports for a few seconds: start it now, in parallel with the apiserver's startup.
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
log "starting moto on $MOTO_URL"
start moto "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
deadline=$((SECONDS + READY_TIMEOUT))
until [[ "$(curl -sS -m 3 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
            "$API_URL/readyz" 2>/dev/null)" == ok ]]; do
  alive kube-apiserver || fail_with_log kube-apiserver "kube-apiserver exited during startup"
  ((SECONDS < deadline)) || fail_with_log kube-apiserver "kube-apiserver not ready after ${READY_TIMEOUT} s (raise BERTH_READY_TIMEOUT on a slow machine)"
  sleep 0.25
done
log "kube-apiserver ready"

# ---------------------------------------------------------------- moto (started above)
deadline=$((SECONDS + 60))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' -m 3 "$MOTO_URL/moto-api/" 2>/dev/null)" == 200 ]]; do
  alive moto || fail_with_log moto "moto_server exited during startup (delete $VENV to reinstall it)"
  ((SECONDS < deadline)) || fail_with_log moto "moto not answering after 60 s"
  sleep 0.3
done
log "moto ready"

# ---------------------------------------------------------------- kubeconfigs and env
CA_DATA="$(base64 -w0 < "$PKI/ca.crt")"
kubeconfig() { # USER TOKEN
  cat <<YAML
apiVersion: v1
kind: Config
clusters:
- name: berth-localstack
  cluster:
    server: $API_URL
    certificate-authority-data: $CA_DATA
users:
- name: $1
  user:
    token: $2
contexts:
- name: $1@berth-localstack
  context:
    cluster: berth-localstack
    user: $1
    namespace: default
current-context: $1@berth-localstack
preferences: {}
YAML
}
(umask 077
 kubeconfig berth-admin "$ADMIN_TOKEN" > "$STATE_DIR/admin.kubeconfig"
 kubeconfig berth-tenant "$TENANT_TOKEN" > "$STATE_DIR/tenant.kubeconfig")

{
  echo "# written by localstack/up.sh; source it: . $STATE_DIR/env"
  for kv in \
    "BERTH_TEST_STATE_DIR=$STATE_DIR" \
    "BERTH_TEST_KUBECONFIG=$STATE_DIR/admin.kubeconfig" \
    "BERTH_TEST_TENANT_KUBECONFIG=$STATE_DIR/tenant.kubeconfig" \
    "BERTH_TEST_ADMIN_TOKEN=$ADMIN_TOKEN" \
    "BERTH_TEST_TENANT_TOKEN=$TENANT_TOKEN" \
    "BERTH_TEST_APISERVER=$API_URL" \
    "BERTH_TEST_CA_FILE=$PKI/ca.crt" \
    "BERTH_TEST_MOTO_URL=$MOTO_URL" \
    "BERTH_TEST_HELM_PYTHON=$HELM_PYTHON" \
    "AWS_ENDPOINT_URL=$MOTO_URL" \
    "AWS_ACCESS_KEY_ID=testing" \
    "AWS_SECRET_ACCESS_KEY=testing" \
    "AWS_REGION=us-east-1" \
    "AWS_DEFAULT_REGION=us-east-1" \
    "AWS_EC2_METADATA_DISABLED=true"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
  # Real credentials or profiles in the caller's environment must not leak into tests.
  echo "unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE"
} > "$STATE_DIR/env"

elapsed_ms=$((($(date +%s%N) - START_NS) / 1000000))
log "up in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s; stop with: bash $HERE/down.sh $STATE_DIR"
log "environment written to:"
echo "$STATE_DIR/env"
