"""The build-instance stand-in: a booted Debian 12 reached over SSH (see sandbox/docs/standin.md).

prepare() (outside any private network namespace) builds the cached base image and fills
the local package repository; find_prepared() locates them without downloading; StandIn
boots one instance from them inside the sandbox's private network namespace.
"""

from .instance import BootError, NoImageContent, StandIn, StandInError, TeardownError
from .namespaces import LooksLikeHost
from .inputs import NotPrepared, Prepared, find_prepared, prepare

__all__ = [
    "BootError", "LooksLikeHost", "NoImageContent", "NotPrepared", "Prepared", "StandIn", "StandInError",
    "TeardownError", "find_prepared", "prepare",
]
