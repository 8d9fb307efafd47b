#!/usr/bin/env bash
# Print the folder of the real CIFAR-10 unpacked from ../shared/data/cifar10-jpeg.tar.gz,
# unpacking it the first time (and again when the archive changes); fail when there is none.
# The copy lives in the app's cache folder ($CIFAR_CACHE_DIR, else ~/.cache/cifar-lab), keyed
# by the archive's size and time, and appears whole or not at all (unpacked aside, then renamed).
set -euo pipefail
cd "$(dirname "$0")/.."
archive="../shared/data/cifar10-jpeg.tar.gz"
[ -f "$archive" ] || exit 1
stamp=$(stat -c '%s-%Y' "$archive")
home="${CIFAR_CACHE_DIR:-$HOME/.cache/cifar-lab}/shared-data"
target="$home/$stamp"
if [ ! -d "$target" ]; then
  mkdir -p "$home"
  # What an interrupted unpack left, once it is clearly not another one still going.
  find "$home" -mindepth 1 -maxdepth 1 -name 'unpacking-*' -mmin +60 -exec rm -rf {} +
  aside=$(mktemp -d "$home/unpacking-XXXXXX")
  echo "test: unpacking $archive once, into $target" >&2
  tar -xzf "$archive" -C "$aside"
  find "$home" -mindepth 1 -maxdepth 1 -name '[0-9]*-[0-9]*' ! -name "$stamp" -exec rm -rf {} +  # an older archive's
  mv -T "$aside" "$target" 2>/dev/null || rm -rf "$aside"  # another run unpacked it meanwhile
fi
folder=$(find "$target" -mindepth 1 -maxdepth 1 -type d | head -n 1)
[ -n "$folder" ] || { echo "test: $archive unpacked to nothing" >&2; exit 1; }
echo "$folder"
