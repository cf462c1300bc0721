#!/usr/bin/env bash
# Puts a registered model into models/: copied from ../shared/models when that
# folder has it, otherwise downloaded from its public URL; either way checked
# against the sha256 in models/registry.tsv. A failed or partial download never
# replaces a good file.
#   models/fetch.sh [NAME]     (default: stories260K)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
name=${1:-stories260K}
line=$(awk -F'\t' -v n="$name" '$1 == n' "$here/registry.tsv")
[ -n "$line" ] || { echo "fetch: unknown model '$name' (see models/registry.tsv)" >&2; exit 2; }
IFS=$'\t' read -r _ file bytes sha url <<<"$line"
dest="$here/$file"
check() { [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$bytes" ] && echo "$sha  $1" | sha256sum -c --status; }
if check "$dest"; then echo "$dest"; exit 0; fi
shared="$here/../../shared/models/$file"
tmp="$dest.part.$$"; trap 'rm -f "$tmp"' EXIT
if [ -f "$shared" ]; then
  cp "$shared" "$tmp"
elif [ "$url" != "-" ]; then
  echo "fetch: downloading $url" >&2
  curl -fL --retry 2 -o "$tmp" "$url" || { echo "fetch: download of $name failed" >&2; exit 1; }
else
  echo "fetch: $name has no public URL and ../shared/models has no copy" >&2; exit 1
fi
check "$tmp" || { echo "fetch: $file failed its size/sha256 check; not kept" >&2; exit 1; }
mv "$tmp" "$dest"
echo "$dest"
