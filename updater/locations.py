"""Feed locations as a person types them: one base URL for the network layer, and the
same address shown without credentials in messages and logs.

Used by the configuration (``[feed] url``, ``--feed``), the network layer and the publisher,
so it sits below all three and imports only errors and translation.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from updater.errors import ConfigError
from updater.i18n import _

#: The URL schemes a feed may be fetched over (besides ``file:``).
HTTP_SCHEMES = frozenset({"http", "https"})


def redact_url(url: str) -> str:
    """``url`` without any user name or password, for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def feed_url(location: str) -> str:
    """Turn a feed location as a person typed it into a base URL ending in ``/``.

    ``location`` may be an ``http://`` or ``https://`` URL, a ``file:`` URL, or a
    folder path (relative to the working directory or absolute, Windows or POSIX
    style); folders become absolute ``file:`` URLs.

    Raises:
        ConfigError: ``location`` is empty, uses another scheme, or is an
            incomplete web address.
    """
    text = location.strip()
    if not text:
        raise ConfigError(_("No feed address was given."))
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in HTTP_SCHEMES:
        if not parts.netloc:
            raise ConfigError(
                _("The feed address {url} has no server name.").format(url=redact_url(text))
            )
        if parts.query or parts.fragment:
            raise ConfigError(
                _("The feed address {url} must not contain '?' or '#'.").format(
                    url=redact_url(text)
                )
            )
        base = text
    elif scheme == "file":
        base = text
    elif scheme == "" or len(scheme) == 1:
        base = Path(text).expanduser().resolve().as_uri()
    else:
        raise ConfigError(
            _(
                "The feed address {url} is not supported: use an http or https address or a folder."
            ).format(url=redact_url(text))
        )
    return base if base.endswith("/") else base + "/"
