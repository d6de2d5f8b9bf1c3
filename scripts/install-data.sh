#!/usr/bin/env bash
# Installs the Debian packages gankit's data and tests use, where apt is available:
#   dataset-fashion-mnist  Fashion-MNIST IDX files in /usr/share/datasets/fashion-mnist
#   espeak-ng              the speech synthesiser that makes the spoken-digits audio set
#   chromium               a headless browser for the report's test (screenshot, JavaScript errors)
# gankit works without them (the tests that need one skip and say why); this script only makes them
# available where apt can install them. Already-installed packages are left alone.
set -u
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "data and tools: already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no apt-get here: ${need[*]} not installed (put the Fashion-MNIST IDX files in \$GANKIT_DATA/fashion-mnist; skipping)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  echo "installed: ${need[*]}"
else
  echo "apt-get could not install all of: ${need[*]} (continuing; the tests that need them skip)"
fi
exit 0
