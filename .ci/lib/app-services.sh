# Sourced by .ci/app-test and .ci/bench-reports: a private PostgreSQL cluster and Redis
# on non-default ports, started without systemd (there is none as PID 1 on these hosts),
# plus the app's virtualenv. Idempotent: reuses what is already running.
#   app_services_up DBNAME   -> exports DATABASE_URL, REDIS_URL; the role may create databases (tests need it)
#   app_venv                 -> creates/updates app/.venv from requirements-dev.txt, exports APP_PYTHON

APP_DIR=${APP_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../app" && pwd)}
APP_PG_VERSION=${APP_PG_VERSION:-15}
APP_PG_CLUSTER=${APP_PG_CLUSTER:-apranova-test}
APP_PG_PORT=${APP_PG_PORT:-55432}
APP_REDIS_PORT=${APP_REDIS_PORT:-56379}
APP_STATE_DIR=${APP_STATE_DIR:-/var/tmp/apranova-app-services}

_apt_install_missing() {
  local missing=()
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -x "/usr/lib/postgresql/$APP_PG_VERSION/bin/postgres" ] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "app-services: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

_postgres_up() {
  if ! pg_lsclusters -h | awk -v v="$APP_PG_VERSION" -v c="$APP_PG_CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
    pg_createcluster "$APP_PG_VERSION" "$APP_PG_CLUSTER" -p "$APP_PG_PORT" >/dev/null
    # A throwaway test cluster: durability is not worth the fsyncs.
    pg_conftool "$APP_PG_VERSION" "$APP_PG_CLUSTER" set fsync off
    pg_conftool "$APP_PG_VERSION" "$APP_PG_CLUSTER" set synchronous_commit off
    pg_conftool "$APP_PG_VERSION" "$APP_PG_CLUSTER" set full_page_writes off
  fi
  if ! pg_lsclusters -h | awk -v v="$APP_PG_VERSION" -v c="$APP_PG_CLUSTER" '$1==v && $2==c && $4=="online" {found=1} END {exit !found}'; then
    pg_ctlcluster "$APP_PG_VERSION" "$APP_PG_CLUSTER" start
  fi
}

_redis_up() {
  mkdir -p "$APP_STATE_DIR/redis"
  if ! redis-cli -p "$APP_REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$APP_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
      --dir "$APP_STATE_DIR/redis" --pidfile "$APP_STATE_DIR/redis.pid" --logfile "$APP_STATE_DIR/redis.log"
    for _ in $(seq 1 50); do redis-cli -p "$APP_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

app_services_up() {
  local dbname=${1:?database name}
  _apt_install_missing
  _postgres_up
  _redis_up
  mkdir -p "$APP_STATE_DIR"
  # Generated on first use and kept outside the repository (never committed), so concurrent
  # runs (tests while a benchmark runs) share it instead of rotating it under each other.
  local password_file="$APP_STATE_DIR/pg-password" password
  if [ ! -s "$password_file" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(16))' >"$password_file")
  fi
  password=$(cat "$password_file")
  su postgres -c "psql -q -p $APP_PG_PORT -v ON_ERROR_STOP=1" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'apranova') THEN CREATE ROLE apranova LOGIN CREATEDB; END IF;
END \$\$;
ALTER ROLE apranova PASSWORD '$password';
SQL
  if ! su postgres -c "psql -p $APP_PG_PORT -tAc \"SELECT 1 FROM pg_database WHERE datname = '$dbname'\"" | grep -q 1; then
    su postgres -c "createdb -p $APP_PG_PORT -O apranova $dbname"
  fi
  export DATABASE_URL="postgres://apranova:$password@127.0.0.1:$APP_PG_PORT/$dbname"
  export REDIS_URL="redis://127.0.0.1:$APP_REDIS_PORT/0"
}

app_venv() {
  local venv="$APP_DIR/.venv" stamp
  stamp=$(cat "$APP_DIR/requirements.txt" "$APP_DIR/requirements-dev.txt" | sha256sum | cut -c1-16)
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r "$APP_DIR/requirements-dev.txt"
    echo "$stamp" >"$venv/.installed"
  fi
  export APP_PYTHON="$venv/bin/python"
}
