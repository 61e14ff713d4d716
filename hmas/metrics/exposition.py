"""Where the metrics go: ``/metrics`` over HTTP while a loop runs, or a node-exporter textfile."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app

from hmas.errors import HmasError, UsageError
from hmas.files import write_atomic

logger = logging.getLogger(__name__)

MAX_PORT = 65535


def check_port(port: int | None, option: str = "--metrics-port") -> None:
    """A TCP port: 1 to 65535."""
    if port is not None and not 1 <= port <= MAX_PORT:
        raise UsageError(f"{option} must be between 1 and {MAX_PORT}, got {port}")


def check_host(host: str, option: str = "--metrics-host") -> str:
    """An IP address to listen on (``localhost`` reads as 127.0.0.1)."""
    value = host.strip()
    if value.lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise UsageError(
            f"{option} must be an IP address such as 127.0.0.1 or 0.0.0.0, got {host!r}"
        ) from None


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


class MetricsServer:
    """``/metrics`` of ``registry`` on ``host:port``, served from a thread until ``close``."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        check_port(port)
        server = _Server6 if ":" in host else _Server
        try:
            self.httpd = make_server(
                host, port, make_wsgi_app(registry), server_class=server, handler_class=_Quiet
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = "the port is in use"
            elif exc.errno == errno.EACCES:
                reason = "permission denied (ports below 1024 need privileges)"
            else:
                reason = exc.strerror or str(exc)
            raise UsageError(
                f"cannot serve metrics on {host}:{port}: {reason}; choose another --metrics-port"
            ) from None
        self.host, self.port = host, int(self.httpd.server_address[1])
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="hmas-metrics", daemon=True
        )
        self.thread.start()
        logger.info("metrics served on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def check_textfile(path: Path) -> Path:
    """A textfile path node-exporter reads: ``*.prom`` in a directory that exists."""
    if path.is_dir():
        raise UsageError(f"--textfile {path} is a directory; name a file such as {path}/hmas.prom")
    if path.suffix != ".prom":
        raise UsageError(
            f"--textfile {path} does not end in .prom; node-exporter's textfile collector "
            "reads only *.prom files"
        )
    if not path.parent.is_dir():
        what = "is not a directory" if path.parent.exists() else "does not exist"
        raise UsageError(f"--textfile {path}: the directory {path.parent} {what}; create it first")
    return path


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """Write the registry in the text format, atomically (``hmas.files.write_atomic``): the
    store is read first, so a failure leaves the previous file as it was."""
    check_textfile(path)
    data = generate_latest(registry)
    try:
        write_atomic(path, data)
    except OSError as exc:
        error = UsageError if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else HmasError
        raise error(f"cannot write --textfile {path}: {exc.strerror or exc}") from None
