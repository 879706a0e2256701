#!/usr/bin/env bash
# Installs, upgrades or removes the webhook receiver as a systemd service on a Debian 12 or 13 host
# (Proxmox VE 8 or 9).
# Run as root from a git checkout or an unpacked release folder; see --help.
set -Eeuo pipefail

# Mirrors "engines" in package.json (test/ops/deploy.test.ts keeps the two in step).
readonly NODE_MIN_MAJOR=20
readonly NODE_MIN_MINOR=19
readonly SERVICE_USER=webhook
readonly UNIT_NAME=webhook.service
readonly READY_TIMEOUT=30
readonly BACKUPS_KEPT=5

# Paths as the target host sees them; --root prefixes them when writing.
readonly APP_PATH=/opt/webhook-receiver
readonly STATE_PATH=/var/lib/webhook
readonly CONF_PATH=/etc/webhook
readonly UNIT_PATH=/etc/systemd/system/$UNIT_NAME

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SRC_DIR

ROOT=""
ACTION=install
PURGE=0
BUILD=auto
NODE_BIN=""
NODE_VERSION=""
NODE_PROBLEM=""
NEW_SECRET=""

usage() {
  cat <<EOF
Usage: deploy.sh [--root DIR] [--no-build | --build]
       deploy.sh --uninstall [--purge] [--root DIR]

Installs the webhook receiver as $UNIT_NAME, or upgrades it in place. Run as root on a
Debian 12 or 13 host (Proxmox VE 8 or 9) from a git checkout or an unpacked release folder.
Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR must be on PATH; on Debian 13, whose own is recent enough,
a missing or older node is replaced by Debian's (apt-get install nodejs npm).

  $APP_PATH      the application (replaced on every run; the one before is kept
                              as $APP_PATH.previous for a manual rollback)
  $STATE_PATH           the SQLite database and pre-upgrade backups (kept)
  $CONF_PATH/webhook.env    configuration, written with a new signing secret only
                              if it does not exist (kept)
  $UNIT_PATH

Options:
  --root DIR   install into a staging tree: every path above is prefixed with DIR;
               no user is created, nothing is chowned (the intended owners are listed
               in DIR/ownership.list) and systemctl is not called. Migrations still
               run, against DIR$STATE_PATH/webhook.db.
  --no-build   use the dist/ and node_modules/ already in this folder.
  --build      run npm ci and npm run build even in a release folder.
               Default: build in a git checkout, reuse the build in a release folder.
  --uninstall  stop, disable and remove the service and $APP_PATH;
               keep $STATE_PATH and $CONF_PATH.
  --purge      with --uninstall: also remove $STATE_PATH, $CONF_PATH and the
               '$SERVICE_USER' user. This deletes the database.
  -h, --help   show this help.

A release folder is an installed tree: on a build host of the same kind (Debian release, amd64,
the same Node major, for better-sqlite3's native addon), run deploy.sh --root DIR, then ship
  tar -C DIR/opt -czf webhook-receiver.tgz webhook-receiver
and on the target run webhook-receiver/deploy.sh from the unpacked folder.
EOF
}

log() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

on_error() {
  printf 'error: deploy.sh failed at line %s (exit %s)\n' "$1" "$2" >&2
}
trap 'on_error "$LINENO" "$?"' ERR

parse_args() {
  while (($# > 0)); do
    case $1 in
      --root)
        (($# >= 2)) || die "--root needs a directory"
        ROOT=$2
        shift
        ;;
      --root=*) ROOT=${1#--root=} ;;
      --uninstall) ACTION=uninstall ;;
      --purge) PURGE=1 ;;
      --no-build) BUILD=no ;;
      --build) BUILD=yes ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
  done
  if ((PURGE)) && [[ $ACTION != uninstall ]]; then
    die "--purge only goes with --uninstall"
  fi
  if [[ -n $ROOT ]]; then
    mkdir -p -- "$ROOT"
    ROOT=$(cd -- "$ROOT" && pwd)
    [[ $ROOT != / ]] || die "--root / is the live system: leave --root out instead"
  fi
}

# True when installing into the live system rather than a staging tree.
live() { [[ -z $ROOT ]]; }

preflight() {
  if live; then
    ((EUID == 0)) || die "run as root (or use --root DIR to stage into a folder)"
    command -v systemctl >/dev/null || die "systemctl not found: this script installs a systemd service"
  fi
}

# The major release of Debian this host runs (Proxmox VE 8 is Debian 12, 9 is Debian 13), or
# nothing on another distribution. DEPLOY_OS_RELEASE names another os-release file, for tests.
debian_release() {
  local file=${DEPLOY_OS_RELEASE:-/etc/os-release} id version
  [[ -r $file ]] || return 0
  id=$(sed -n 's/^ID=//p' "$file" | tr -d "\"'")
  version=$(sed -n 's/^VERSION_ID=//p' "$file" | tr -d "\"'")
  if [[ $id == debian && $version =~ ^[0-9]+ ]]; then printf '%s' "${BASH_REMATCH[0]}"; fi
}

node_help() {
  local release
  release=$(debian_release)
  {
    printf 'error: %s\n' "$1"
    if [[ -n $release ]] && ((release >= 13)); then
      cat <<EOF
The receiver needs Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR. Debian $release's own nodejs package (20.19) is enough, as root:

  apt-get install -y nodejs npm

If an older node is still found after that, it comes from elsewhere: a node earlier on PATH, or
another apt source for nodejs (see apt-cache policy nodejs), such as NodeSource's from before
the upgrade to Debian 13.
EOF
    else
      cat <<EOF
The receiver needs Node.js >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR. Debian 12's own nodejs package is 18.x, too old.
On Debian 12 (Proxmox VE 8), install Node.js 20 from NodeSource, as root:

  apt-get install -y ca-certificates curl
  curl -fsSL https://deb.nodesource.com/setup_20.x -o /root/nodesource_setup.sh
  bash /root/nodesource_setup.sh
  apt-get install -y nodejs

(Debian 13, Proxmox VE 9, needs no NodeSource: deploy.sh installs Debian's own nodejs and npm.)
EOF
    fi
    cat <<EOF
Then run deploy.sh again. Any node >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR on a system path (/usr/bin,
/usr/local/bin) will do; not one under /home or /root (nvm), which the hardened service cannot see.
EOF
  } >&2
  exit 1
}

# Finds node on PATH: sets NODE_BIN and NODE_VERSION, and NODE_PROBLEM when it will not do.
find_node() {
  NODE_PROBLEM=""
  hash -r
  NODE_BIN=$(command -v node || true)
  if [[ -z $NODE_BIN ]]; then
    NODE_PROBLEM="node was not found on PATH"
  elif ! NODE_VERSION=$("$NODE_BIN" -p 'process.versions.node' 2>/dev/null) || [[ ! $NODE_VERSION =~ ^[0-9]+\.[0-9]+ ]]; then
    NODE_PROBLEM="$NODE_BIN does not run"
  else
    local major minor
    IFS=. read -r major minor _ <<<"$NODE_VERSION"
    if ((major < NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor < NODE_MIN_MINOR))); then
      NODE_PROBLEM="$NODE_BIN is Node.js $NODE_VERSION"
    fi
  fi
}

# Debian 13 ships a Node.js recent enough: a hypervisor needs no third-party apt repository then.
install_debian_node() {
  log "$NODE_PROBLEM; installing Debian's nodejs and npm (apt-get install -y nodejs npm)"
  command -v apt-get >/dev/null || node_help "$NODE_PROBLEM, and apt-get was not found"
  # Without a subscription, Proxmox VE's enterprise repository refuses the update; Debian's own still work.
  DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    warn "apt-get update reported errors; installing from the package lists at hand"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm ||
    node_help "apt-get install -y nodejs npm failed (deploy.sh must run as root to install them)"
}

# Leaves NODE_BIN at a node that can run the receiver, installing Debian's own where it is enough.
check_node() {
  find_node
  if [[ -n $NODE_PROBLEM ]]; then
    local release
    release=$(debian_release)
    if [[ -n $release ]] && ((release >= 13)); then
      install_debian_node
      find_node
      [[ -z $NODE_PROBLEM ]] || node_help "after apt-get install nodejs npm, $NODE_PROBLEM"
    else
      node_help "$NODE_PROBLEM"
    fi
  fi
  case $NODE_BIN in
    /home/* | /root/* | /tmp/* | /var/tmp/*)
      if live; then
        node_help "$NODE_BIN is in a folder the service cannot read (ProtectHome=, PrivateTmp=)"
      fi
      warn "$NODE_BIN would not be visible to the service on a real host"
      ;;
  esac
  log "using Node.js $NODE_VERSION at $NODE_BIN"
}

# Leaves a built tree (dist/ and node_modules/) in SRC_DIR, building it if needed.
prepare_build() {
  local checkout=0
  [[ -d $SRC_DIR/src && -f $SRC_DIR/tsconfig.build.json ]] && checkout=1
  if [[ $BUILD == auto ]]; then
    if ((checkout)); then BUILD=yes; else BUILD=no; fi
  fi
  if [[ $BUILD == yes ]]; then
    command -v npm >/dev/null || die "npm not found (NodeSource's nodejs package includes it; on Debian 13 it is the npm package)"
    log "building in $SRC_DIR (npm ci && npm run build; --no-build reuses an existing build)"
    (cd "$SRC_DIR" && npm ci --no-audit --no-fund && npm run build) ||
      die "build failed. better-sqlite3 may need a compiler when no prebuilt binary fits: apt-get install -y python3 make g++"
  else
    log "reusing the build in $SRC_DIR"
  fi
  local f
  for f in package.json package-lock.json dist/src/server.js dist/src/db/checkpoint-worker.js dist/src/net/acceptor-echo.js dist/src/cli.js dist/browser/live.js migrations \
    node_modules/better-sqlite3 systemd/webhook.service systemd/wait-ready.mjs; do
    [[ -e $SRC_DIR/$f ]] || die "$SRC_DIR/$f is missing: not a built checkout or release folder (run without --no-build)"
  done
}

OWNERSHIP=()

# own OWNER:GROUP MODE PATH: sets the mode, and the owner on a live system; --root records it.
own() {
  chmod "$2" "$3"
  if live; then
    chown "$1" "$3"
  else
    OWNERSHIP+=("$1 $2 ${3#"$ROOT"}")
  fi
}

write_ownership_list() {
  live && return 0
  {
    printf '# owner:group mode path, as deploy.sh would set them on a live host\n'
    printf '%s\n' "${OWNERSHIP[@]}"
  } >"$ROOT/ownership.list"
}

ensure_user() {
  live || return 0
  getent passwd "$SERVICE_USER" >/dev/null && return 0
  local group_opt=(--user-group)
  if getent group "$SERVICE_USER" >/dev/null; then group_opt=(--gid "$SERVICE_USER"); fi
  log "creating system user $SERVICE_USER"
  useradd --system "${group_opt[@]}" --home-dir "$STATE_PATH" --no-create-home \
    --shell /usr/sbin/nologin --comment "webhook status receiver" "$SERVICE_USER"
}

ensure_dirs() {
  mkdir -p "$ROOT/opt" "$ROOT/etc/systemd/system" "$ROOT$STATE_PATH" "$ROOT$CONF_PATH"
  own "$SERVICE_USER:$SERVICE_USER" 0750 "$ROOT$STATE_PATH"
  own "root:$SERVICE_USER" 0750 "$ROOT$CONF_PATH"
  if live; then chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE_PATH"; fi
}

new_secret() {
  "$NODE_BIN" -e 'process.stdout.write("whsec_" + require("node:crypto").randomBytes(32).toString("base64"))'
}

# Writes webhook.env only when it does not exist: it holds the operator's settings and secret.
ensure_env_file() {
  local env_file=$ROOT$CONF_PATH/webhook.env
  if [[ -e $env_file ]]; then
    log "keeping $env_file"
    own "root:$SERVICE_USER" 0640 "$env_file"
    return 0
  fi
  NEW_SECRET=$(new_secret)
  local tmp
  # mktemp makes the file 0600, so the secret is never readable by others, even briefly.
  tmp=$(mktemp "$ROOT$CONF_PATH/.webhook.env.XXXXXX")
  cat >"$tmp" <<EOF
# Environment of $UNIT_NAME: KEY=value lines, read by systemd (EnvironmentFile=), not by a shell.
# Written once by deploy.sh; later deploys keep it. After editing:
#   systemctl restart $UNIT_NAME
# Commented lines show the defaults.

# Standard Webhooks signing secrets (whsec_<base64>), comma-separated. Senders sign with one of
# them; to rotate, add the new secret, move the VMs over, then remove the old one.
WEBHOOK_SECRETS=$NEW_SECRET
# Or one secret per line in a file readable by the '$SERVICE_USER' group:
#WEBHOOK_SECRETS_FILE=$CONF_PATH/secrets

# Bearer token for the read API and /metrics (at least 16 characters); unset = no token needed.
#WEBHOOK_READ_TOKEN=
#WEBHOOK_READ_TOKEN_FILE=$CONF_PATH/read-token

#WEBHOOK_HOST=0.0.0.0
#WEBHOOK_PORT=9191
#WEBHOOK_LOG_LEVEL=info
# Set when a reverse proxy sits in front: true, a hop count, or its addresses/CIDRs.
#WEBHOOK_TRUST_PROXY=false
# A running run with no event for this long is reported as stale.
#WEBHOOK_STALE_AFTER_SECONDS=1800
# Runs older than this, and hosts unseen for this long, are pruned.
#WEBHOOK_RETENTION_DAYS=90
# normal survives a crash of the process but may lose the last commits on power loss;
# full fsyncs every commit and survives power loss too.
#WEBHOOK_DURABILITY=normal
#WEBHOOK_BODY_LIMIT=1048576
#WEBHOOK_RATE_LIMIT=600
#WEBHOOK_MAX_IN_FLIGHT=256

# Proxmox discovery: which VMs should report, read from the API (README, Proxmox discovery).
# The token file holds one line USER@REALM!TOKENID=SECRET, readable by the '$SERVICE_USER' group.
#WEBHOOK_PROXMOX_URL=https://127.0.0.1:8006
#WEBHOOK_PROXMOX_TOKEN_FILE=$CONF_PATH/proxmox-token
#WEBHOOK_PROXMOX_CA_FILE=$CONF_PATH/proxmox-ca.pem
#WEBHOOK_PROXMOX_TAG=ansible-pull
#WEBHOOK_PROXMOX_INTERVAL_SECONDS=60

# The unit sets WEBHOOK_DB=$STATE_PATH/webhook.db, the only place the service may write.
EOF
  mv "$tmp" "$env_file"
  own "root:$SERVICE_USER" 0640 "$env_file"
  log "wrote $env_file with a new signing secret"
}

# Reads KEY from webhook.env the way systemd would for simple lines: last one wins, quotes stripped.
env_value() {
  local key=$1 default=$2 line value=""
  local env_file=$ROOT$CONF_PATH/webhook.env
  if [[ -r $env_file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      [[ $line =~ ^[[:space:]]*${key}[[:space:]]*=(.*)$ ]] || continue
      value=${BASH_REMATCH[1]}
      value=${value#"${value%%[![:space:]]*}"}
      value=${value%"${value##*[![:space:]]}"}
      if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    done <"$env_file"
  fi
  printf '%s\n' "${value:-$default}"
}

# The database path inside the install root.
db_file() {
  printf '%s%s\n' "$ROOT" "$(env_value WEBHOOK_DB "$STATE_PATH/webhook.db")"
}

# Runs the admin CLI of the tree at $1 as the service user, with only the settings it needs:
# the secrets stay out of its environment.
run_cli() {
  local tree=$1
  shift
  local cmd=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NODE_ENV=production WEBHOOK_LOG_LEVEL=warn
    "WEBHOOK_DB=$(db_file)" "$NODE_BIN" "$tree/dist/src/cli.js" "$@")
  if live; then
    (cd "$tree" && umask 077 && runuser -u "$SERVICE_USER" -- "${cmd[@]}")
  else
    (cd "$tree" && umask 077 && "${cmd[@]}")
  fi
}

STAGE=""
cleanup_stage() {
  if [[ -n $STAGE && -d $STAGE ]]; then rm -rf -- "$STAGE"; fi
}
trap cleanup_stage EXIT

# Copies the runtime files into APP_DIR.new with production dependencies only.
stage_tree() {
  local app_dir=$ROOT$APP_PATH
  STAGE=$app_dir.new
  rm -rf -- "$STAGE"
  mkdir -p "$STAGE/systemd"
  log "staging $STAGE"
  cp -R "$SRC_DIR/package.json" "$SRC_DIR/package-lock.json" "$SRC_DIR/dist" \
    "$SRC_DIR/migrations" "$SRC_DIR/node_modules" "$SRC_DIR/deploy.sh" "$STAGE/"
  cp "$SRC_DIR/systemd/webhook.service" "$SRC_DIR/systemd/wait-ready.mjs" "$STAGE/systemd/"
  # A copy of the checkout's node_modules still holds the dev tools; prune needs no network.
  if command -v npm >/dev/null; then
    (cd "$STAGE" && npm prune --omit=dev --offline --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
  fi
  # Code is root's and read-only to the service, whoever owned the checkout.
  chmod -R u=rwX,go=rX "$STAGE"
  if live; then chown -R root:root "$STAGE"; fi
}

backup_db() {
  local db tree=$ROOT$APP_PATH
  db=$(db_file)
  [[ -f $db && -f $tree/dist/src/cli.js ]] || return 0
  local dir=$ROOT$STATE_PATH/backups
  mkdir -p "$dir"
  own "$SERVICE_USER:$SERVICE_USER" 0750 "$dir"
  local dest
  dest=$dir/webhook-$(date -u +%Y%m%dT%H%M%SZ).db
  log "backing up the database to $dest"
  run_cli "$tree" backup "$dest" || die "backup failed; nothing was changed"
  # Keep the newest few; the names sort by time.
  local old
  while IFS= read -r old; do
    rm -f -- "$old"
  done < <(find "$dir" -maxdepth 1 -name 'webhook-*.db' | sort -r | tail -n +$((BACKUPS_KEPT + 1)))
}

service_active() { live && systemctl is-active --quiet "$UNIT_NAME"; }

switch_tree() {
  local app_dir=$ROOT$APP_PATH
  rm -rf -- "$app_dir.previous"
  if [[ -d $app_dir ]]; then mv -- "$app_dir" "$app_dir.previous"; fi
  mv -- "$STAGE" "$app_dir"
  STAGE=""
  own root:root 0755 "$app_dir"
}

rollback_tree() {
  local app_dir=$ROOT$APP_PATH
  [[ -d $app_dir.previous ]] || return 0
  warn "restoring the previous version from $app_dir.previous"
  rm -rf -- "$app_dir"
  mv -- "$app_dir.previous" "$app_dir"
}

install_unit() {
  local unit=$ROOT$UNIT_PATH tmp
  tmp=$(mktemp "$unit.XXXXXX")
  # The unit names /usr/bin/node; point it at the node that was checked.
  sed "s#/usr/bin/node #$NODE_BIN #" "$SRC_DIR/systemd/webhook.service" >"$tmp"
  mv -- "$tmp" "$unit"
  own root:root 0644 "$unit"
  log "installed $unit"
}

print_journal_and_die() {
  printf '\n%s\n' "--- journalctl -u $UNIT_NAME -n 50 --no-pager" >&2
  journalctl -u "$UNIT_NAME" -n 50 --no-pager >&2 || true
  if [[ -d $APP_PATH.previous ]]; then
    cat >&2 <<EOF

The version before is in $APP_PATH.previous. To go back to it:
  rm -rf $APP_PATH && mv $APP_PATH.previous $APP_PATH && systemctl restart $UNIT_NAME
If this deploy applied migrations, the old version refuses the newer database: first stop
the service, copy the newest file in $STATE_PATH/backups over $STATE_PATH/webhook.db
and delete webhook.db-wal and webhook.db-shm beside it.
EOF
  fi
  die "$1"
}

start_service() {
  if ! live; then
    log "staging tree: not starting the service"
    return 0
  fi
  systemctl daemon-reload
  systemctl enable --quiet "$UNIT_NAME"
  log "restarting $UNIT_NAME"
  # Quick successive deploys must not trip the unit's StartLimitBurst=.
  systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
  # ExecStartPost waits for /readyz, so restart returns once the service takes writes.
  systemctl restart "$UNIT_NAME" || print_journal_and_die "$UNIT_NAME did not start"
  local host port
  host=$(env_value WEBHOOK_HOST 0.0.0.0)
  port=$(env_value WEBHOOK_PORT 9191)
  WEBHOOK_HOST=$host WEBHOOK_PORT=$port "$NODE_BIN" "$APP_PATH/systemd/wait-ready.mjs" --timeout "$READY_TIMEOUT" ||
    print_journal_and_die "$UNIT_NAME is running but /readyz did not answer 200 within $READY_TIMEOUT s"
}

print_secret_help() {
  local port
  port=$(env_value WEBHOOK_PORT 9191)
  if [[ -z $NEW_SECRET ]]; then
    printf '\nThe signing secret is in %s (WEBHOOK_SECRETS).\n' "$CONF_PATH/webhook.env"
    return 0
  fi
  printf '\nA new signing secret was written to %s (WEBHOOK_SECRETS).\n' "$ROOT$CONF_PATH/webhook.env"
  if live; then
    cat <<EOF
It is printed here this once; later runs keep the file and do not print it again:

  $NEW_SECRET

EOF
  else
    printf 'Staging tree: the secret is not printed; read it from that file.\n\n'
  fi
  cat <<EOF
Give it to the VMs:
  - Ansible callback plugin: WEBHOOK_SECRET=<secret> and WEBHOOK_URL=http://<this host>:$port
    (or WEBHOOK_SECRET_FILE=<file holding the secret>)
  - cloud-init template: variable webhook_secret
To read it again later: grep WEBHOOK_SECRETS $CONF_PATH/webhook.env
EOF
}

do_install() {
  check_node
  prepare_build
  ensure_user
  ensure_dirs
  ensure_env_file
  stage_tree
  backup_db
  if service_active; then
    log "stopping $UNIT_NAME for the upgrade"
    systemctl stop "$UNIT_NAME"
  fi
  switch_tree
  log "applying migrations to $(db_file)"
  if ! run_cli "$ROOT$APP_PATH" migrate; then
    rollback_tree
    if live && [[ -f $UNIT_PATH ]]; then systemctl start "$UNIT_NAME" || true; fi
    die "migrations failed; the database is as it was (each migration is one transaction)"
  fi
  install_unit
  write_ownership_list
  start_service
  if live; then
    log "$UNIT_NAME is ready on port $(env_value WEBHOOK_PORT 9191)"
  else
    log "staged into $ROOT (intended owners in $ROOT/ownership.list)"
  fi
  if [[ -d $ROOT$APP_PATH.previous ]]; then
    printf 'The version before is kept in %s for a rollback.\n' "$APP_PATH.previous"
  fi
  print_secret_help
}

do_uninstall() {
  if live; then
    if systemctl cat "$UNIT_NAME" >/dev/null 2>&1; then
      log "stopping and disabling $UNIT_NAME"
      systemctl disable --now --quiet "$UNIT_NAME" || true
    fi
  fi
  rm -f -- "$ROOT$UNIT_PATH"
  if live; then
    systemctl daemon-reload
    systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
  fi
  rm -rf -- "$ROOT$APP_PATH" "$ROOT$APP_PATH.previous" "$ROOT$APP_PATH.new"
  log "removed $UNIT_NAME and $APP_PATH"
  if ((PURGE)); then
    rm -rf -- "$ROOT$STATE_PATH" "$ROOT$CONF_PATH"
    rm -f -- "$ROOT/ownership.list"
    if live && getent passwd "$SERVICE_USER" >/dev/null; then userdel "$SERVICE_USER"; fi
    log "purged $STATE_PATH, $CONF_PATH and the $SERVICE_USER user"
  else
    log "kept $STATE_PATH (database) and $CONF_PATH (configuration); --purge removes them"
  fi
}

main() {
  parse_args "$@"
  preflight
  if [[ $ACTION == uninstall ]]; then do_uninstall; else do_install; fi
}

main "$@"
