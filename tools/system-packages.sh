#!/usr/bin/env bash
# Install the Debian packages the test suite uses, where that is possible (root + apt-get):
#   openssh-server               the stand-in's pods are real sshd processes
#   podman runc debootstrap      the container test builds and runs the action's image
# Only missing packages are installed. Where nothing can be installed, say what is missing:
# the SSH tests then fail and the container test skips, each naming the reason.
set -euo pipefail

packages=(openssh-server podman runc debootstrap)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "note: not installed (needs root and apt-get): ${missing[*]}" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
    echo "note: apt-get update failed; not installed: ${missing[*]}" >&2
    exit 0
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # One package that cannot be had must not keep the others out.
    for package in "${missing[@]}"; do
        apt-get install -y -qq --no-install-recommends "$package" >/dev/null \
            || echo "note: could not install $package" >&2
    done
fi
