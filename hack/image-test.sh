#!/usr/bin/env bash
# Check the OCI archive `make image` wrote: unpack it (tar, then every layer in manifest order), check its
# configuration (non-root user, entrypoint, OCI labels) and its files (the stripped binary, CA
# certificates, glibc; nothing else of note), then run the entrypoint from the unpacked root filesystem as
# user 65532 (chroot --userspec): `--version` and `crd`. Needs root (chroot) and jq.
#
#   hack/image-test.sh <image reference> <archive>
set -euo pipefail
cd "$(dirname "$0")/.."
image="$1" archive="$2"
version="${image##*:}"
fail() { echo "hack/image-test.sh: $archive: $*" >&2; exit 1; }

[ -f "$archive" ] || fail "no such archive (run make image)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
layout="$work/layout" rootfs="$work/rootfs"
mkdir -p "$layout" "$rootfs"
tar -xf "$archive" -C "$layout"
blob() { echo "$layout/blobs/${1/://}"; }

manifest="$(jq -r --arg ref "$image" \
  '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $ref) | .digest' "$layout/index.json")"
[ -n "$manifest" ] || fail "no manifest named $image in index.json"
config="$(blob "$(jq -r .config.digest "$(blob "$manifest")")")"
while read -r layer; do tar -xf "$(blob "$layer")" -C "$rootfs"; done < <(jq -r '.layers[].digest' "$(blob "$manifest")")

expect() { # expect <what> <actual> <wanted>
  [ "$2" = "$3" ] || fail "$1 is '$2', expected '$3'"
}
expect User "$(jq -r .config.User "$config")" "65532:65532"
expect Entrypoint "$(jq -c .config.Entrypoint "$config")" '["/hybridscale"]'
expect Cmd "$(jq -c .config.Cmd "$config")" '["controller"]'
expect "label version" "$(jq -r '.config.Labels["org.opencontainers.image.version"]' "$config")" "$version"
expect "label source" "$(jq -r '.config.Labels["org.opencontainers.image.source"]' "$config")" \
  "https://github.com/hybridscale/hybridscale"
revision="$(jq -r '.config.Labels["org.opencontainers.image.revision"]' "$config")"
[[ "$revision" =~ ^[0-9a-f]{40}$|^unknown$ ]] || fail "label revision is '$revision'"

# Files: the binary (stripped: no symbol table, no debug sections), the CA bundle, nothing executable
# beside the binary and the shared libraries.
bin="$rootfs/hybridscale"
[ -x "$bin" ] || fail "no executable /hybridscale"
if readelf -S "$bin" | grep -Eq '\.symtab|\.debug_'; then fail "/hybridscale is not stripped"; fi
grep -q 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt" || fail "no CA certificates"
extra="$(cd "$rootfs" && find . -type f -perm -u+x ! -name '*.so*' ! -path ./hybridscale ! -path '*/ld-linux*')"
[ -z "$extra" ] || fail "executables beside /hybridscale: $extra"
[ -z "$(ls "$rootfs"/bin "$rootfs"/usr/bin 2>/dev/null)" ] || fail "the image has a /bin or /usr/bin"

# Run the entrypoint as the image's user, from the unpacked root filesystem.
run() { chroot --userspec=65532:65532 "$rootfs" /hybridscale "$@"; }
out="$(run --version)" || fail "/hybridscale --version failed as 65532"
[[ "$out" == "hybridscale $version (commit "*")" ]] || fail "--version printed '$out'"
run crd >"$work/crds.yaml" || fail "/hybridscale crd failed as 65532"
[ "$(grep -c '^kind: CustomResourceDefinition' "$work/crds.yaml")" = 2 ] || fail "crd did not print two CRDs"
diff -q <(cat crds/*.yaml) <(grep -vx -- --- "$work/crds.yaml") >/dev/null || fail "crd output differs from crds/"
echo "ok: $image runs as 65532: $out; $(du -sh "$rootfs" | cut -f1) unpacked"
