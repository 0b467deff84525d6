#!/usr/bin/env bash
# Fails when a generated file differs from what `make generate manifests`
# produces: deepcopy, the CRD, the controller's Role, and the chart's copies
# of the last two. It compares them before and after regenerating, so
# uncommitted changes to the API types are fine as long as the generated
# files follow; a difference is left regenerated in the tree for `git diff`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

generated=(
	api/v1alpha1/zz_generated.deepcopy.go
	config/crd/bases
	config/rbac/role.yaml
	charts/haul/crds
	charts/haul/files/controller-role.yaml
)
before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
for f in "${generated[@]}"; do
	mkdir -p "$before/$(dirname "$f")"
	cp -R "$f" "$before/$f"
done
make -s generate manifests >/dev/null
differ=0
for f in "${generated[@]}"; do
	diff -ru "$before/$f" "$f" || differ=1
done
if ((differ)); then
	echo "verify-generated: the files above were not what 'make generate manifests' produces (now regenerated; see git diff)" >&2
	exit 1
fi
