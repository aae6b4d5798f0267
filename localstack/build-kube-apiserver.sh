#!/usr/bin/env bash
# Builds a real kube-apiserver and unpacks etcd, from Debian bookworm's packages, into a cache
# outside the checkout. No registry ships a kube-apiserver binary; Debian ships its source.
# Idempotent: does nothing when the binaries are already cached.
set -euo pipefail

CACHE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
BIN="$CACHE/bin"
KVER="1.20.5+really1.20.2-1.1+deb12u1"
mkdir -p "$BIN"

if [[ -x "$BIN/kube-apiserver" && -x "$BIN/etcd" ]]; then
  echo "localstack: kube-apiserver and etcd already cached in $BIN"
  exit 0
fi

log() { echo "localstack: $*" >&2; }
WORK="$CACHE/build"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/debs"
SRCLIST="$WORK/apt/sources.list"
cat > "$SRCLIST" <<LIST
deb http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian-security bookworm-security main
deb-src http://deb.debian.org/debian-security bookworm-security main
LIST
APT=(apt-get -q -o Dir::Etc::SourceList="$SRCLIST" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache"
     -o APT::Sandbox::User=root -o Acquire::Retries=3)

log "updating a private apt index (no system change)"
"${APT[@]}" update >/dev/null

cd "$WORK/debs"
log "downloading Go 1.19, etcd and reflect2 1.0.2 packages"
for p in golang-1.19-go golang-1.19-src etcd-server golang-github-modern-go-reflect2-dev; do
  ls ${p}_*.deb >/dev/null 2>&1 || "${APT[@]}" download "$p" >/dev/null
done
mkdir -p "$WORK/root"
for d in *.deb; do dpkg -x "$d" "$WORK/root"; done
cp "$WORK/root/usr/bin/etcd" "$BIN/etcd"

GOROOT_DIR="$WORK/root/usr/lib/go-1.19"
[[ -x "$GOROOT_DIR/bin/go" ]] || { log "Go 1.19 not found in $GOROOT_DIR"; exit 1; }

cd "$WORK"
if [[ ! -d "$WORK/src/cmd/kube-apiserver" ]]; then
  log "downloading Debian's kubernetes source $KVER (this takes a minute)"
  mkdir -p "$WORK/srcpkg" && cd "$WORK/srcpkg"
  ls kubernetes_*.orig.tar.* >/dev/null 2>&1 || "${APT[@]}" source --download-only "kubernetes=$KVER" >/dev/null
  rm -rf "$WORK/src" && mkdir -p "$WORK/src"
  tar -xf "$(ls kubernetes_*.orig.tar.* | head -n1)" -C "$WORK/src" --strip-components=1
fi

# The vendored reflect2 1.0.1 crashes under Go >= 1.18 (SIGSEGV in mapiternext): use 1.0.2.
R2NEW="$WORK/root/usr/share/gocode/src/github.com/modern-go/reflect2"
R2OLD="$WORK/src/vendor/github.com/modern-go/reflect2"
rm -f "$R2OLD"/*.go "$R2OLD"/*.s
cp "$R2NEW"/*.go "$R2OLD"/ 2>/dev/null || true
cp "$R2NEW"/*.s "$R2OLD"/ 2>/dev/null || true
rm -f "$R2OLD"/*_test.go

# The build scripts call rsync; a cp stand-in is enough when rsync is missing.
mkdir -p "$WORK/shim"
if ! command -v rsync >/dev/null; then
  cat > "$WORK/shim/rsync" <<'SH'
#!/usr/bin/env bash
args=(); for a in "$@"; do case "$a" in -*) ;; *) args+=("$a");; esac; done
n=${#args[@]}; dst="${args[$((n-1))]}"; mkdir -p "$dst"
for ((i=0;i<n-1;i++)); do cp -a "${args[$i]}" "$dst"; done
SH
  chmod +x "$WORK/shim/rsync"
fi

log "building kube-apiserver with Go 1.19 (about 4 minutes on 2 cores)"
cd "$WORK/src"
PATH="$WORK/shim:$GOROOT_DIR/bin:$PATH" GOROOT="$GOROOT_DIR" GOPATH="$WORK/src/.go" GOPROXY=off \
  GOFLAGS=-mod=vendor CGO_ENABLED=0 GOCACHE="$WORK/gocache" \
  make WHAT=cmd/kube-apiserver >"$WORK/make.log" 2>&1 || { tail -n 40 "$WORK/make.log"; exit 1; }
cp "$(find "$WORK/src/_output" -type f -name kube-apiserver | head -n1)" "$BIN/kube-apiserver"
chmod +x "$BIN/kube-apiserver" "$BIN/etcd"
log "built $BIN/kube-apiserver"
