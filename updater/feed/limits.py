"""The network's limits, apart from the network code: :class:`NetworkLimits`.

Kept out of :mod:`updater.feed.fetch` so that what only names the limits (the service's
signature, the operations' context) does not import ``requests``, ``urllib3``,
``truststore`` and python-tuf: commands that never touch the network (``status``,
``history``) start without them.

May import: the core only.
"""

from __future__ import annotations

from dataclasses import dataclass

from updater import __version__

__all__ = ["DEFAULT_USER_AGENT", "NetworkLimits"]

#: ``User-Agent`` sent with every request unless the limits say otherwise.
DEFAULT_USER_AGENT = f"InnovaCommerce-Updater/{__version__}"


@dataclass(frozen=True)
class NetworkLimits:
    """Bounds on how long and how slowly the updater lets a server answer.

    Attributes:
        connect_timeout: Seconds allowed to open the TCP (and TLS) connection.
        read_timeout: The longest silence, in seconds, allowed between two pieces of
            data from the server (this includes waiting for the response headers).
        min_bytes_per_second: Throughput floor for one transfer. A transfer whose
            average speed since its request was sent falls below this, once
            ``throughput_grace_seconds`` have passed, is abandoned. ``0`` disables the
            floor.
        throughput_grace_seconds: The floor only applies after this many seconds of
            one transfer, so that slow starts and small files are not punished.
        metadata_deadline_seconds: Total time allowed for one file fetched through
            :class:`FeedFetcher` (TUF metadata, the manifest, a file list), however
            steadily the server trickles it. Packages, which may be large, have the
            throughput floor instead (:mod:`updater.feed.download`).
        chunk_size: The most bytes read (and handed to python-tuf) at a time.
        user_agent: ``User-Agent`` header for :func:`make_session`.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    min_bytes_per_second: int = 2048
    throughput_grace_seconds: float = 10.0
    metadata_deadline_seconds: float = 120.0
    chunk_size: int = 65536
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "metadata_deadline_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"NetworkLimits.{name} must be positive")
        if self.chunk_size <= 0:
            raise ValueError("NetworkLimits.chunk_size must be positive")
        if self.min_bytes_per_second < 0 or self.throughput_grace_seconds < 0:
            raise ValueError(
                "NetworkLimits.min_bytes_per_second and throughput_grace_seconds "
                "must not be negative"
            )
