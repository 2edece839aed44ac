#!/usr/bin/env bash
# Checks the manifests of this directory against the Kubernetes API's own
# schemas (strict: a misspelt or misplaced field is refused), and, where
# kubectl is installed, that kustomization.yaml builds them all.
#
# Usage: deploy/kubernetes/validate.sh
# Needs python3; installs kubernetes-validate with pip when it is missing.
set -euo pipefail
cd "$(dirname "$0")"

version=1.37.0
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "installing kubernetes-validate $version"
  python3 -m pip install --quiet "kubernetes-validate==$version"
  hash -r
fi
validate=(kubernetes-validate)
command -v kubernetes-validate >/dev/null 2>&1 || validate=(python3 -m kubernetes_validate)

# kustomization.yaml is kustomize's file, not a Kubernetes resource.
manifests=()
for file in *.yaml; do
  [ "$file" = kustomization.yaml ] || manifests+=("$file")
done
"${validate[@]}" --strict "${manifests[@]}"

if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize . >/dev/null
  echo "kustomization.yaml builds every manifest"
fi
