#!/usr/bin/env bash
# Builds Trama's container image without pulling from any registry: a minimal
# Debian base made by mmdebstrap from Debian's packages (with the `trama` user,
# uid 10001, and its state directory), imported into podman, then the
# Containerfile copies the binary of the Debian package onto it.
#
# Usage (as root, or with podman set up rootless):
#   deploy/container/build-image.sh [SUITE]        # SUITE defaults to bookworm
# Needs: mmdebstrap, podman, cargo-deb (apt-get install mmdebstrap podman;
# cargo install cargo-deb). With a registry, push the result:
#   podman push localhost/trama:<version> registry.example.org/trama:<version>
set -euo pipefail
cd "$(dirname "$0")/../.."

suite="${1:-bookworm}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
work="target/container"
rm -rf "$work"
mkdir -p "$work/context/examples"

echo "== the binary, as the Debian package builds it"
deb="$(cargo deb --locked --strip | tail -n 1)"
dpkg-deb -x "$deb" "$work/deb"
cp "$work/deb/usr/bin/trama" "$work/context/trama"
cp deploy/*.example.toml deploy/policy.example.cedar "$work/context/examples/"

echo "== the base: Debian $suite, minbase, from Debian's packages"
mmdebstrap --variant=minbase --include=ca-certificates \
    --customize-hook='echo "trama:x:10001:10001:Trama federation node:/var/lib/trama:/usr/sbin/nologin" >> "$1/etc/passwd"' \
    --customize-hook='echo "trama:x:10001:" >> "$1/etc/group"' \
    --customize-hook='mkdir -p "$1/etc/trama" "$1/var/lib/trama/gateway" "$1/var/lib/trama/connector" && chown -R 10001:10001 "$1/var/lib/trama" && chmod -R 0700 "$1/var/lib/trama"' \
    --customize-hook='rm -rf "$1/var/cache/apt/archives"/*.deb "$1/var/lib/apt/lists"/*' \
    "$suite" "$work/base.tar"
podman import "$work/base.tar" "localhost/trama-base:$suite" >/dev/null

echo "== the image"
podman build --build-arg "BASE=localhost/trama-base:$suite" \
    -f deploy/container/Containerfile -t "localhost/trama:$version" "$work/context"
podman image inspect "localhost/trama:$version" --format '{{.Config.User}} {{.Config.Entrypoint}}'
echo "built localhost/trama:$version"
