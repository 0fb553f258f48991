"""Docker HEALTHCHECK for every process of the image.

The web answers /healthz; a Celery worker or beat has no HTTP port, and PID 1 being alive
is its liveness (Docker restarts it when it exits).
"""
import os
import sys
import urllib.request

with open("/proc/1/cmdline", "rb") as handle:
    is_web = b"gunicorn" in handle.read()

# Where gunicorn listens (gunicorn.conf.py): loopback, or the one address BIND_HOST names
# when the container shares a host whose nginx runs elsewhere.
host = os.environ.get("BIND_HOST", "0.0.0.0")
if host in ("", "0.0.0.0", "::"):
    host = "127.0.0.1"
elif ":" in host:
    host = f"[{host}]"

if is_web:
    try:
        urllib.request.urlopen(f"http://{host}:{os.environ.get('PORT', '8000')}/healthz", timeout=4)
    except OSError as error:
        print(f"healthz failed: {error}")
        sys.exit(1)
