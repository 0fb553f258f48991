"""gunicorn settings, all overridable from the environment."""
import os

from prometheus_client import multiprocess

# BIND_HOST=127.0.0.1 when the container shares the host's network (the Ansible app role).
bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Downloads stream large files: keep the worker heartbeat off the (possibly slow) overlay disk.
worker_tmp_dir = "/tmp"
# gunicorn's control socket (for gunicornc) defaults to $HOME/.gunicorn/, on the read-only root:
# keep it on the /tmp tmpfs, one per container. GUNICORN_CONTROL_SOCKET="" turns it off.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "/tmp/gunicorn.ctl")
control_socket_disable = not control_socket
accesslog = "-"
errorlog = "-"
access_log_format = '{"access": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, "bytes": "%(B)s", "ms": %(M)s}'


def child_exit(server, worker) -> None:
    # Drop a dead worker's live gauges from the shared metrics directory.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
