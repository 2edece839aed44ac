#!/usr/bin/env bash
# Installs the Debian package that `cargo deb` built and starts a connector and a
# gateway from the command lines of the package's own systemd units, as a
# partner's IT office would: the PKI made with `trama pki`, the example
# configurations copied to /etc/trama and given this machine's addresses, each
# node's state directory made as systemd's StateDirectory= makes it, each node
# run as the `trama` user. Checks that both answer /readyz, that the connector's
# partner is a source the gateway reaches, and that nothing was written under
# /etc/trama (read-only to the nodes under their units).
#
# Usage (as root, on a machine of its own: it replaces /etc/trama):
#   deploy/debian/smoke.sh target/debian/trama_<version>_amd64.deb
set -euo pipefail

deb="$(realpath "${1:?give the .deb file cargo deb built}")"
examples=/usr/share/doc/trama/examples
logs="$(mktemp -d)"
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop EXIT

step() { echo "== $*"; }
fail() { echo "FAILED: $*" >&2; for f in "$logs"/*.log; do echo "--- $f" >&2; tail -n 30 "$f" >&2; done; exit 1; }

step "install $deb"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "$deb" >/dev/null
getent passwd trama >/dev/null || fail "no trama system user"
[ -x /usr/bin/trama ] || fail "no /usr/bin/trama"
if /usr/bin/trama demo --help >/dev/null 2>&1; then fail "the package carries the lab's commands"; fi
for unit in gateway connector console; do
    [ -f "/lib/systemd/system/trama-$unit.service" ] || fail "no unit trama-$unit.service"
done

step "a federation's PKI and keys, in /etc/trama"
rm -rf /etc/trama/pki /etc/trama/*.toml /etc/trama/*.cedar /etc/trama/linkage.key \
    /var/lib/trama/gateway /var/lib/trama/connector /var/lib/caritas
pki=/etc/trama/pki
trama pki init --dir "$pki" --federation myfed >/dev/null
trama pki issue --dir "$pki" --org gateway --role gateway --host localhost --host 127.0.0.1 >/dev/null
trama pki issue --dir "$pki" --org caritas --role connector --host localhost --host 127.0.0.1 >/dev/null
trama pki linkage-key --out /etc/trama/linkage.key >/dev/null
# The nodes run as `trama`: their keys are theirs, the rest readable to them.
chown -R root:trama /etc/trama
chmod -R g+rX,o-rwx /etc/trama
chown trama:trama "$pki"/*-key.pem /etc/trama/linkage.key
chmod 0600 "$pki"/*-key.pem /etc/trama/linkage.key

step "the partner's database: caritas's schema, as the example expects it"
install -d -m 0755 /var/lib/caritas
python3 - "$examples/caritas/schema.sqlite.sql" /var/lib/caritas/ascolto.db <<'PY'
import sqlite3, sys
with open(sys.argv[1]) as schema:
    sqlite3.connect(sys.argv[2]).executescript(schema.read())
PY

step "the example configurations, with this machine's addresses"
cp "$examples/policy.example.cedar" /etc/trama/policy.cedar
cp "$examples/caritas/mapping.toml" /etc/trama/mapping.toml
cp "$examples/connector.example.toml" /etc/trama/connector.toml
sed -e 's|connector.caritas.example.org:7401|localhost:7401|' \
    "$examples/gateway.example.toml" > /etc/trama/gateway.toml
chown root:trama /etc/trama/*.toml /etc/trama/*.cedar
chmod 0640 /etc/trama/*.toml /etc/trama/*.cedar

step "each node's state directory, as StateDirectory= makes it"
for node in gateway connector; do
    install -d -m 0700 -o trama -g trama "/var/lib/trama/$node"
done

unit_command() { sed -n 's/^ExecStart=//p' "/lib/systemd/system/trama-$1.service"; }
start() { # node
    local cmd
    cmd="$(unit_command "$1")"
    echo "   $1: $cmd"
    # shellcheck disable=SC2086
    runuser -u trama -- env RUST_LOG=info $cmd >"$logs/$1.log" 2>&1 &
    pids+=("$!")
}
ready() { # name port
    for _ in $(seq 1 60); do
        if python3 - "$2" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2)
except Exception:
    sys.exit(1)
PY
        then echo "   $1 ready"; return 0; fi
        sleep 1
    done
    fail "$1 not ready on :$2/readyz"
}

step "check the configurations as the units would run them"
runuser -u trama -- trama connector --check-config /etc/trama/connector.toml >"$logs/check-connector.log" 2>&1 \
    || fail "connector --check-config"
runuser -u trama -- trama gateway --check-config /etc/trama/gateway.toml >"$logs/check-gateway.log" 2>&1 \
    || fail "gateway --check-config"

step "start both from their units' command lines"
touch "$logs/stamp"
sleep 1
start connector
ready connector 8081
start gateway
ready gateway 8080

step "nothing written where the units make the file system read-only"
written="$(find /etc/trama -newer "$logs/stamp")"
[ -z "$written" ] || fail "written under /etc/trama: $written"
[ -s /var/lib/trama/gateway/audit.db ] || fail "no gateway audit log in its state directory"
[ -s /var/lib/trama/connector/audit.db ] || fail "no connector audit log in its state directory"

echo "package installed; connector and gateway ready from their units' command lines"
