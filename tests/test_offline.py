"""The offline guard refuses non-loopback connections before any packet leaves, and logs them."""

import os
import socket

import pytest

from xaihealth import offline


def test_guard_is_armed_in_the_test_session():
    assert socket.socket.connect is offline._guarded_connect
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.fixture
def no_real_connect(monkeypatch, tmp_path):
    """Replace the real connect so that a broken guard could never send anything anywhere."""
    reached = []
    monkeypatch.setattr(offline, "_real_connect", lambda sock, address: reached.append(address))
    monkeypatch.setattr(offline, "_real_getaddrinfo", lambda host, *a, **k: reached.append(host) or [])
    log = tmp_path / "net.log"
    monkeypatch.setenv("XAIHEALTH_NETWORK_LOG", str(log))
    return reached, log


@pytest.mark.parametrize("address", [("192.0.2.1", 80), ("10.0.0.1", 443), ("8.8.8.8", 53)])
def test_remote_ipv4_is_refused_and_logged(no_real_connect, address):
    reached, log = no_real_connect
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(offline.NetworkAccessError):
        sock.connect(address)
    assert reached == [] and address[0] in log.read_text()


def test_remote_ipv6_and_name_lookup_are_refused(no_real_connect):
    reached, log = no_real_connect
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock,
        pytest.raises(offline.NetworkAccessError),
    ):
        sock.connect_ex(("2001:db8::1", 443, 0, 0))
    with pytest.raises(offline.NetworkAccessError):
        socket.getaddrinfo("huggingface.co", 443)
    assert reached == [] and "huggingface.co" in log.read_text()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_is_allowed(no_real_connect, host):
    reached, _ = no_real_connect
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect((host, 9))
    assert reached == [(host, 9)]


def test_real_loopback_connection_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=5):
        pass


def test_huggingface_hub_download_is_blocked(tmp_path):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises((LocalEntryNotFoundError, offline.NetworkAccessError, OSError)):
        hf_hub_download("gpt2", "config.json", cache_dir=tmp_path)
