#!/usr/bin/env bash
# Build the hybridscale image without a Docker daemon, as an OCI archive: what the Dockerfile builds, with
# the runtime layer assembled from the Debian packages distroless `cc` is made of (libc6, libgcc-s1,
# ca-certificates) instead of pulling it. Needs root, buildah (vfs storage, from scratch), apt-get and
# dpkg-deb; `make image` installs buildah and builds the release binary first.
#
#   hack/image.sh <image reference> <binary> <archive>
#
# The labels, user, entrypoint and command are read from the Dockerfile's last stage, so both builds agree.
set -euo pipefail
cd "$(dirname "$0")/.."
image="$1" bin="$2" archive="$3"
version="${image##*:}"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
buildah=(buildah --storage-driver vfs)

[ -x "$bin" ] || { echo "hack/image.sh: $bin: no such binary (make image builds it)" >&2; exit 2; }

work="$(mktemp -d)"
ctr=""
cleanup() {
  [ -z "$ctr" ] || "${buildah[@]}" rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The runtime layer: the three packages' files, minus documentation, plus the CA bundle that the
# ca-certificates package only generates in its postinst, a passwd/group with the nonroot user, /tmp.
rootfs="$work/rootfs"
mkdir -p "$rootfs" "$work/debs"
packages=(libc6 libgcc-s1 ca-certificates)
if ! (cd "$work/debs" && apt-get download "${packages[@]}" >/dev/null 2>&1); then
  apt-get update -qq
  (cd "$work/debs" && apt-get download "${packages[@]}" >/dev/null)
fi
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
mkdir -p "$rootfs/etc/ssl/certs"
cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$rootfs"/usr/share/{doc,lintian,man,ca-certificates} "$rootfs"/usr/sbin "$rootfs"/etc/ca-certificates \
  "$rootfs"/usr/lib/*/gconv "$rootfs"/usr/share/locale "$rootfs"/usr/share/i18n
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
mkdir -p "$rootfs/tmp" "$work/home"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$bin" "$rootfs/hybridscale"

# The Dockerfile's last stage: LABEL lines (${VERSION}/${REVISION} filled in), USER, ENTRYPOINT, CMD.
config=()
while IFS= read -r label; do
  label="${label//\$\{VERSION\}/$version}"
  config+=(--label "${label//\$\{REVISION\}/$revision}")
done < <(sed -n 's/^.*\(org\.opencontainers\.image\.[a-z]*\)="\([^"]*\)".*$/\1=\2/p' Dockerfile)
user="$(sed -n 's/^USER \(.*\)$/\1/p' Dockerfile)"
entrypoint="$(sed -n 's/^ENTRYPOINT \(.*\)$/\1/p' Dockerfile)"
cmd="$(sed -n 's/^CMD \(.*\)$/\1/p' Dockerfile)"
[ "${#config[@]}" -ge 12 ] && [ -n "$user" ] && [ -n "$entrypoint" ] && [ -n "$cmd" ] ||
  { echo "hack/image.sh: Dockerfile: could not read the labels, USER, ENTRYPOINT and CMD" >&2; exit 1; }

ctr="$("${buildah[@]}" from scratch)"
"${buildah[@]}" copy "$ctr" "$rootfs/" / >/dev/null
"${buildah[@]}" copy --chown 65532:65532 "$ctr" "$work/home" /home/nonroot >/dev/null
"${buildah[@]}" config "${config[@]}" --user "$user" --workingdir / \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --entrypoint "$entrypoint" --cmd "$cmd" "$ctr"
"${buildah[@]}" commit --quiet --format oci "$ctr" "$image" >/dev/null
mkdir -p "$(dirname "$archive")"
rm -f "$archive"
"${buildah[@]}" push --quiet "$image" "oci-archive:$archive:$image"
echo "$image -> $archive ($(du -h "$archive" | cut -f1))"
