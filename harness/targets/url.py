"""Any already-running PocketBase-compatible server, reached by URL (STYLE.md item 8).

The harness owns nothing here: ``start`` only checks that the server is healthy and that
the given superuser can authenticate, and ``stop`` does nothing.
"""

from __future__ import annotations

from harness.http import ServerCheckError, superuser_token, wait_healthy
from harness.targets.base import TargetInfo, TargetStartError

HEALTH_TIMEOUT = 10.0  # a server that is still booting gets this long to answer


class UrlTarget:
    """A server someone else started; scenarios must leave it as they found it."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        name: str = "url",
        *,
        health_timeout: float = HEALTH_TIMEOUT,
    ):
        self._base_url = base_url.rstrip("/")
        self._health_timeout = health_timeout
        self._superuser = (email, password)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def superuser(self) -> tuple[str, str]:
        return self._superuser

    def info(self) -> TargetInfo:
        # A URL says nothing reliable about the server behind it (the health endpoint does
        # not report a version), so these stay unknown rather than guessed.
        return TargetInfo(
            name=self._name,
            kind="url",
            engine=None,
            version="unknown",
            details={"base_url": self._base_url},
        )

    def start(self) -> None:
        email, password = self._superuser
        try:
            wait_healthy(self._base_url, self._health_timeout)
            superuser_token(self._base_url, email, password)
        except ServerCheckError as exc:
            raise TargetStartError(
                f"target {self._name!r} at {self._base_url} is not usable: {exc}. "
                "Check that the server is running and reachable, and that the superuser "
                "credentials (PARITY_URL_EMAIL / PARITY_URL_PASSWORD) exist on it."
            ) from exc

    def stop(self) -> None:
        return None
