# Shared by the scripts that need Node.js: source it, then call the functions.

# Makes sure Node.js 20 or later with npm is there, installing Debian's
# packages when it is missing and we run as root. $1 says what needs it, for
# the error message.
require_node() {
  local what=$1 major
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "error: $what needs Node.js 20 or later with npm" >&2
      exit 1
    fi
  fi
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "error: $what needs Node.js 20 or later, found $(node --version)" >&2
    exit 1
  fi
}

# Installs the npm packages of the package in directory $1 from its lockfile
# (`npm ci`), only when node_modules is missing or package-lock.json changed
# since the last install: a stamp in node_modules remembers the lockfile's
# hash, so running it again is cheap.
npm_ci_if_changed() {
  local dir=$1 stamp wanted
  stamp="$dir/node_modules/.package-lock.sha256"
  wanted="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ ! -d "$dir/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund)
    echo "$wanted" >"$stamp"
  fi
}
