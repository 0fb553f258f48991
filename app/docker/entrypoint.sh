#!/bin/sh
# Process selector: one image runs every role of the app.
#   web | worker | beat | migrate | manage <args> | any other command
set -eu

# Per-process metric files for gunicorn's workers; stale ones from a previous run would
# be summed into the new counters, so start empty. /tmp is writable even on a read-only root.
rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" "${MPLCONFIGDIR:-/tmp/matplotlib}"

command=${1:-web}
[ $# -gt 0 ] && shift
case "$command" in
  web)     exec gunicorn core.wsgi:application --config /app/docker/gunicorn.conf.py "$@" ;;
  worker)  exec celery --app core worker --loglevel "${LOG_LEVEL:-INFO}" --concurrency "${CELERY_CONCURRENCY:-2}" "$@" ;;
  # The schedule file must live on a writable path: /tmp (tmpfs) on a read-only root.
  beat)    exec celery --app core beat --loglevel "${LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule "$@" ;;
  migrate) exec python3 manage.py migrate --noinput "$@" ;;
  manage)  exec python3 manage.py "$@" ;;
  *)       exec "$command" "$@" ;;
esac
