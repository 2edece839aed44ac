#!/usr/bin/env bash
# Vendors, from the npm registry, what the console serves itself (no CDN:
# municipal networks are closed): Designers Italia's Bootstrap Italia
# (BSD-3-Clause), its built CSS and the Titillium Web fonts; and htmx
# (0BSD), the small library the pages use for progressive enhancement. The
# files are committed; run this only to move to other versions, then
# rebuild.
set -euo pipefail
VERSION="${1:-2.18.3}"
HTMX="${2:-2.0.11}"
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
(cd "$work" && npm pack "htmx.org@${HTMX}" >/dev/null && mkdir htmx && tar xzf htmx.org-*.tgz -C htmx)
rm -rf vendor/htmx && mkdir -p vendor/htmx
cp "$work/htmx/package/dist/htmx.min.js" vendor/htmx/
cp "$work/htmx/package/LICENSE" vendor/htmx/LICENSE
echo "$HTMX" > vendor/htmx/VERSION
echo "vendored htmx ${HTMX} into console/assets/vendor/htmx"
