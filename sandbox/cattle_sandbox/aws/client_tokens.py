"""What the sandbox remembers of each client token (idempotency.py acts on it)."""

import threading
from typing import Any

from moto.core.responses import ActionResult

TOKEN_PARAMETER = "ClientToken"


class ClientTokens:
    """The first successful answer to each (account, region, action, token), with its parameters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, ...], tuple[Any, ActionResult]] = {}

    def recorded(self, key: tuple[str, ...]) -> tuple[Any, ActionResult] | None:
        with self._lock:
            return self._answers.get(key)

    def record(self, key: tuple[str, ...], parameters: Any, answer: ActionResult) -> None:
        with self._lock:
            self._answers.setdefault(key, (parameters, answer))

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
