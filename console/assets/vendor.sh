#!/usr/bin/env bash
# Vendors Designers Italia's Bootstrap Italia (BSD-3-Clause) from the npm
# registry: its built CSS and the Titillium Web fonts the console serves
# itself (no CDN: municipal networks are closed). The files are committed;
# run this only to move to another version, then rebuild.
set -euo pipefail
VERSION="${1:-2.18.3}"
cd "$(dirname "$0")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "bootstrap-italia@${VERSION}" >/dev/null && tar xzf bootstrap-italia-*.tgz)
dest=vendor/bootstrap-italia
rm -rf "$dest" && mkdir -p "$dest/css" "$dest/fonts"
cp "$work/package/dist/css/bootstrap-italia.min.css" "$dest/css/"
for weight in regular italic 300 600 700; do
  cp "$work/package/dist/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-${weight}.woff2" "$dest/fonts/"
done
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "$VERSION" > "$dest/VERSION"
echo "vendored bootstrap-italia ${VERSION} into console/assets/${dest}"
