#!/usr/bin/env bash
# Fails when git tracks a file larger than 1 MiB outside test data (a `testdata/` directory):
# compiled test binaries, builds and recordings do not belong in the repository.
# Usage: tools/check-large-files.sh [limit-bytes]
set -euo pipefail
limit=${1:-1048576}
cd "$(git rev-parse --show-toplevel)"
big=$(git ls-files -s | sed -E 's/^[0-7]+ ([0-9a-f]+) [0-9]\t/\1 /' |
	git cat-file --batch-check='%(objectsize) %(rest)' |
	awk -v limit="$limit" '$1 > limit && $2 !~ /(^|\/)testdata\// { print }')
if [ -n "$big" ]; then
	echo "check-large-files: files over $limit bytes tracked outside testdata/ (git rm them):" >&2
	echo "$big" | sed 's/^/  /' >&2
	exit 1
fi
echo "check-large-files: no tracked file over $limit bytes outside testdata/"
