#!/usr/bin/env bash
# Fails when the generated code in pkg/ is not what hack/update-codegen.sh
# produces from the current API types: it regenerates in a scratch copy of the
# tree and compares.
set -o errexit -o nounset -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "${scratch}"' EXIT

# Copy the sources only; .bin/ and .git/ are large and irrelevant here.
tar -C "${root}" --exclude=./.bin --exclude=./.git --exclude=./.run -cf - . | tar -C "${scratch}" -xf -
(cd "${scratch}" && ./hack/update-codegen.sh >/dev/null)

if ! diff -ru "${root}/pkg" "${scratch}/pkg"; then
  echo "generated code is stale: run ./hack/update-codegen.sh and commit the result" >&2
  exit 1
fi
echo "generated code is up to date"
