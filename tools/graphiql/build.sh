#!/usr/bin/env bash
# Refresh the GraphiQL assets the server ships (app/static/graphiql/vendor/). Not run by make:
# run it by hand after changing a version in package.json here, then commit package.json,
# package-lock.json and the vendor folder together (see README.md beside this script).
#
#   bash tools/graphiql/build.sh
#
# Needs Node.js and npm (the npm registry). Installs into tools/graphiql/node_modules (ignored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../app/static/graphiql/vendor"
cd "$here"
npm ci --no-audit --no-fund
rm -rf "$out"
mkdir -p "$out"
esbuild=node_modules/.bin/esbuild
common=(--bundle --minify --legal-comments=none --target=es2022 --log-level=warning
        --define:process.env.NODE_ENV='"production"')
# The page's bundle: an ES module whose workers are the files beside it (import.meta.url).
"$esbuild" src/vendor.js "${common[@]}" --format=esm --outfile="$out/graphiql.js" \
    --loader:.ttf=file --loader:.woff=file --loader:.woff2=file --asset-names='[name]' --metafile=meta-page.json
for worker in editor json graphql; do
    "$esbuild" "src/$worker.worker.js" "${common[@]}" --format=iife --outfile="$out/$worker.worker.js" \
        --metafile="meta-$worker.json"
done
# Licences: every npm package that went into a bundle (from esbuild's metafiles), its licence
# file copied, and a list of name, version and licence.
node licenses.mjs "$out" meta-*.json
rm -f meta-*.json
ls -la "$out"
