"""GBIF's species API over an Airflow HTTP connection (``gbif_default``: host ``https://api.gbif.org``)."""

from __future__ import annotations

from typing import Any

from airflow.providers.http.hooks.http import HttpHook

#: Attempts per name: GBIF answers 429 and 5xx under load, and a month asks thousands of names.
ATTEMPTS = 5


class GbifSpeciesHook(HttpHook):
    """GET requests to GBIF's species API, retried on throttling and server errors.

    :param gbif_conn_id: the HTTP connection to GBIF's API.
    :param timeout: seconds per request.
    """

    def __init__(self, gbif_conn_id: str = "gbif_default", timeout: float = 30.0) -> None:
        super().__init__(method="GET", http_conn_id=gbif_conn_id)
        self.timeout = timeout

    def match(self, name: str, kingdom: str) -> dict[str, Any]:
        """GBIF's best usage for a scientific name in a kingdom (``/v1/species/match``).

        :raises GbifRefusal: when GBIF answers with a client error (it will answer the same again).
        """
        import requests
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            wait=tenacity.wait_exponential(multiplier=0.5, max=30),
            retry=tenacity.retry_if_exception_type((GbifBusy, requests.ConnectionError, requests.Timeout)),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._match_once(name, kingdom)
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _match_once(self, name: str, kingdom: str) -> dict[str, Any]:
        response = self.run(
            endpoint="/v1/species/match",
            data={"name": name, "kingdom": kingdom},
            extra_options={"timeout": self.timeout, "check_response": False},
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise GbifBusy(f"GBIF answered {response.status_code} to the match of {name!r}")
        if not response.ok:
            raise GbifRefusal(
                f"GBIF refused the match of {name!r} in {kingdom!r}: {response.status_code} {response.text[:300]}"
            )
        return response.json()


class GbifBusy(RuntimeError):
    """GBIF throttled or failed a request: worth another try."""


class GbifRefusal(RuntimeError):
    """GBIF refused a request: another try would be refused alike."""
