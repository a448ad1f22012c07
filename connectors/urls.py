"""Which URLs a connection may name: the rule behind every base and token URL setting.

Credentials are sent to these URLs, so a typo or a hostile configuration must not point them at
a file, a plain-text network hop, or the cloud's metadata service (which hands out the host's
own credentials). Checked when the settings are validated: `connection add/update`, config files
and the stored settings a worker loads alike. A name that resolves to such an address is not
caught here (that needs the resolver at request time).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The instance metadata services of the clouds (AWS, GCP, Azure, Oracle, Alibaba, Tencent...):
# most answer on 169.254.169.254, which is link-local and refused with its whole range.
METADATA_HOSTS = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data",
    "instance-data.ec2.internal", "metadata.tencentyun.com",
})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200",
))
# Legacy IPv4 spellings that resolvers still accept: 2852039166, 0xa9fea9fe, 0251.0376.0.1.
# Hosts on a private network that speak plain http (the compose stack's sandbox), comma-separated.
PLAIN_HTTP_HOSTS_ENV = "TRIBUTARY_PLAIN_HTTP_HOSTS"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


def _address(host: str) -> IpAddress | None:
    """The IP address `host` spells, in any notation a resolver accepts; None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_HOST.match(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _plain_http_allowed(host: str, address: IpAddress | None) -> bool:
    if address is not None and address.is_loopback:
        return True
    if host == "localhost" or host.endswith(".localhost"):
        return True
    named = os.environ.get(PLAIN_HTTP_HOSTS_ENV, "")
    return host.lower() in {h.strip().lower() for h in named.split(",") if h.strip()}


def check_url(url: str) -> str:
    """`url` if a connection may send credentials there, else a ValueError saying why."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"{url!r} is not a URL (empty, or with spaces or control characters)")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket
        raise ValueError(f"{url!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{url!r}: only http(s) URLs are allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"{url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r}: credentials in a URL are refused; the vault holds them")
    try:
        parts.port  # noqa: B018  # raises on a port that is not a number in range
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    address = _address(host)
    if host in METADATA_HOSTS or address in METADATA_ADDRESSES:
        raise ValueError(f"{url!r} is a cloud metadata address: refused")
    if address is not None and (address.is_link_local or address.is_unspecified):
        raise ValueError(f"{url!r} is a link-local or unspecified address: refused")
    if parts.scheme.lower() == "http" and not _plain_http_allowed(host, address):
        raise ValueError(f"{url!r}: use https (plain http only to a loopback host such as "
                         f"127.0.0.1 or localhost, or a host named in {PLAIN_HTTP_HOSTS_ENV})")
    return url


def check_url_or_path(value: str) -> str:
    """An absolute URL (checked as above), or a path relative to the connection's base URL."""
    if "://" in value:  # how connectors.rest tells an absolute URL from a path
        if not _SCHEME.match(value):
            raise ValueError(f"{value!r}: a path relative to base_url holds no '://'")
        return check_url(value)
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{value!r} is neither a URL nor a path")
    return value


# The URL fields of the provider settings.
Url = Annotated[str, AfterValidator(check_url)]
UrlOrPath = Annotated[str, AfterValidator(check_url_or_path)]
