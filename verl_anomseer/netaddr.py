"""Host addresses: whether a run's endpoint stays on this machine."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for a loopback IP (127.0.0.0/8, ::1, ::ffff:127.x) or the name `localhost`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
