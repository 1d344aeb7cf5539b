"""Installs the sandbox's behaviour changes on moto's classes, switched by one active flag.

moto keeps its state in module-level backends, so the patches are class-level and
process-wide. Each one only acts while a sandbox is running (`activate`); otherwise it
calls moto's original code, so other users of moto in the same process are unaffected.
"""

import inspect
from collections.abc import Callable
from typing import Any

_PATCHES: list[tuple[type, str, Callable[..., Any]]] = []
_installed = False
_active: Any = None


def patch(cls: type, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `wrapper(state, original, *args, **kwargs)` to replace `cls.name`."""

    def register(wrapper: Callable[..., Any]) -> Callable[..., Any]:
        _PATCHES.append((cls, name, wrapper))
        return wrapper

    return register


def add_method(cls: type, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `method(state, *args, **kwargs)` as `cls.name`, which moto lacks."""

    def register(method: Callable[..., Any]) -> Callable[..., Any]:
        def without_original(state: Any, _original: Any, *args: Any, **kwargs: Any) -> Any:
            return method(state, *args, **kwargs)

        _PATCHES.append((cls, name, without_original))
        return method

    return register


def install() -> None:
    """Applies every registered patch once per process."""
    global _installed
    if _installed:
        return
    for cls, name, wrapper in _PATCHES:
        original = getattr(cls, name, None)
        setattr(cls, name, _switched(wrapper, original, name))
    _installed = True


def _switched(wrapper: Callable[..., Any], original: Any, name: str) -> Callable[..., Any]:
    # Must stay a plain function: moto finds response actions among a class's functions.
    def patched(*args: Any, **kwargs: Any) -> Any:
        state = _active
        if state is None:
            if original is None:
                raise NotImplementedError(f"The {name} action has not been implemented")
            return original(*args, **kwargs)
        return wrapper(state, original, *args, **kwargs)

    patched.__name__ = name
    patched.__qualname__ = name
    if original is not None:
        # Lets bound_arguments see moto's signature through any number of patches.
        patched.__wrapped__ = original  # type: ignore[attr-defined]
    return patched


def activate(state: Any) -> None:
    global _active
    if _active is not None and _active is not state:
        raise RuntimeError(
            "another SandboxAWS is already running in this process; moto's state is "
            "process-wide, so run one sandbox per process (one per xdist worker)"
        )
    _active = state


def deactivate(state: Any) -> None:
    global _active
    if _active is state:
        _active = None


def bound_arguments(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call by parameter name, whether moto passed them by position or keyword."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    return dict(bound.arguments)
