"""A guard that refuses network connections to anything but this machine.

The course promises to run offline: no model hub, no data download, no CDN. ``install()`` wraps
``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` so that a connection to a
non-loopback address raises :class:`NetworkAccessError` *before* any packet leaves. Every refused attempt
is also appended to the file named by ``XAIHEALTH_NETWORK_LOG`` (if set), so that the test suite fails
even when a library catches the exception and carries on.
"""

from __future__ import annotations

import ipaddress
import os
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_installed = False


class NetworkAccessError(ConnectionRefusedError):
    """Raised when code tries to reach a host other than this machine."""


def is_local(host: object) -> bool:
    """True for loopback addresses and names (127.0.0.0/8, ::1, localhost)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]")
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    log = os.environ.get("XAIHEALTH_NETWORK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(what + "\n")
    raise NetworkAccessError(f"offline course: refused {what} (only loopback is allowed)")


def _target(sock: socket.socket, address: object) -> object | None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        return address[0]
    return None  # AF_UNIX and friends stay on this machine


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = _target(self, address)
    if not is_local(host):
        _refuse(f"connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    host = _target(self, address)
    if not is_local(host):
        _refuse(f"connect to {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - mirrors socket's
    if not is_local(host):
        _refuse(f"name lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    """Arm the guard in this process (idempotent) and switch Hugging Face libraries to offline mode."""
    global _installed
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if _installed:
        return
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
    _installed = True
