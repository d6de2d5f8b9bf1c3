#!/usr/bin/env bash
# Installs Debian's Fashion-MNIST package (IDX files in /usr/share/datasets/fashion-mnist).
# gankit works without it (Fashion-MNIST tests skip, `gankit train --preset dcgan-fashion` says how
# to get the data); this script only makes the data available where apt can install it.
set -u
if [ -d /usr/share/datasets/fashion-mnist ]; then
  echo "fashion-mnist: already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "fashion-mnist: no apt-get here; put the IDX files in \$GANKIT_DATA/fashion-mnist instead (skipping)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
if $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; then
  echo "fashion-mnist: installed"
else
  echo "fashion-mnist: apt-get could not install dataset-fashion-mnist (continuing without it)"
fi
exit 0
