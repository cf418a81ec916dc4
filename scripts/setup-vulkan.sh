#!/usr/bin/env bash
# Installs Mesa's lavapipe (CPU Vulkan driver) from bookworm-backports when no usable Vulkan
# driver exists, so Dawn's WebGPU can run on machines without a GPU. Dawn rejects the stock
# bookworm Mesa 22.3; Mesa 25 from backports works (see ENGINEERING.md in ../shared).
# On Debian releases after bookworm the stock Mesa is new enough and is installed as is.
# Idempotent: exits at once when Mesa >= 25 lavapipe is installed.
set -euo pipefail
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && mesa_version | grep -Eq '^(2[5-9]|[3-9][0-9])'; then
  echo "setup-vulkan: Mesa lavapipe $(mesa_version) already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-vulkan: no apt-get here; install a Vulkan driver (Mesa >= 25 lavapipe) yourself" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
export DEBIAN_FRONTEND=noninteractive
if [ "$codename" = bookworm ]; then
  # Same mirror as the system's main Debian source (deb.debian.org when none is found).
  mirror=$(grep -hE '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hE '^deb +[^ ]+ +bookworm +main' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    $SUDO tee "$src" >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
else
  # Newer Debian/Ubuntu: the stock Mesa may already be >= 25; Dawn needs that.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null
  if ! mesa_version | grep -Eq '^(2[5-9]|[3-9][0-9])'; then
    echo "setup-vulkan: installed Mesa $(mesa_version) on '${codename:-unknown}'; Dawn needs Mesa >= 25 and may reject it" >&2
  fi
fi
echo "setup-vulkan: installed Mesa lavapipe $(mesa_version)"
