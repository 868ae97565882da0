#!/usr/bin/env bash
# Installs the real components the end-to-end tests run against (see test/harness/):
# an OCI registry, containerd + runc, skopeo/umoci, a BitTorrent baseline (aria2, opentracker,
# mktorrent), promtool, htpasswd (bcrypt) and iproute2.
#
# Idempotent and fast when everything is already present: a package is only handed to apt-get
# when its command is missing AND dpkg does not list it as installed, and `apt-get update` only
# runs when something must be installed. Needs root (or sudo) only in that case.
set -euo pipefail

# package:command pairs. The command is what the harness actually runs; checking it first
# avoids dpkg/apt entirely on a machine that is already set up.
PACKAGES=(
  "docker-registry:docker-registry"
  "containerd:containerd"
  "runc:runc"
  "skopeo:skopeo"
  "umoci:umoci"
  "aria2:aria2c"
  "opentracker:opentracker"
  "mktorrent:mktorrent"
  "prometheus:promtool"
  "apache2-utils:htpasswd"
  "iproute2:ip"
  "tar:tar"
  "coreutils:timeout"
  "util-linux:mount"
  "ca-certificates:update-ca-certificates"
)

missing=()
for entry in "${PACKAGES[@]}"; do
  pkg="${entry%%:*}"
  cmd="${entry#*:}"
  if command -v "$cmd" >/dev/null 2>&1; then
    continue
  fi
  # Some commands live in sbin dirs that are not on a non-root PATH.
  if [[ -x "/usr/sbin/$cmd" || -x "/sbin/$cmd" ]]; then
    continue
  fi
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    continue
  fi
  missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-testbed: all components present"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  SUDO=(sudo)
fi

echo "install-testbed: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian's postinst scripts enable and start system services where systemd runs. The tests
# start their own instances on free ports with their own config, so the system-wide registry
# (:5000 on every interface), opentracker (:6969) and prometheus (:9090) are only in the way:
# stop those this run just installed. containerd is left alone: it uses its own socket, and
# the host may rely on it. Without systemd (containers, CI sandboxes) nothing was started.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  for pkg in docker-registry opentracker prometheus; do
    if [[ " ${missing[*]} " == *" $pkg "* ]]; then
      "${SUDO[@]}" systemctl disable --now "$pkg" >/dev/null 2>&1 || true
    fi
  done
fi

# Verify: fail loudly now rather than deep inside a test.
for entry in "${PACKAGES[@]}"; do
  cmd="${entry#*:}"
  if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$cmd" && ! -x "/sbin/$cmd" ]]; then
    echo "install-testbed: '$cmd' still missing after install" >&2
    exit 1
  fi
done
echo "install-testbed: done"
