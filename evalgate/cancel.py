"""One process-wide stop flag, set by SIGINT/SIGTERM, that retries, waits and in-flight calls obey.

A signal must stop the run within a second or two: the retry loop stops before its next attempt, a
backoff wait wakes up at once, and in-flight HTTP calls and child processes are aborted through the
callbacks registered here. The CLI and the Action entrypoint install the handlers; everything else only
asks ``cancelled()`` or waits with ``sleep``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from evalgate.errors import EXIT_INTERRUPTED, EvalgateError

EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, what a shell reports for a process ended by SIGTERM

_stop = threading.Event()
_lock = threading.Lock()
_callbacks: dict[int, Callable[[], None]] = {}
_next_id = 0
_signal_number: int | None = None


class Cancelled(EvalgateError):
    """The run was stopped by a signal; never retried, never counted as a model answer."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by our signal handler; ``signum`` decides the exit code (130 or 143)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.signum == signal.SIGTERM else EXIT_INTERRUPTED


def exit_code_for(exc: BaseException | None = None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM: from the exception when it knows, else from the signal we got."""
    code = getattr(exc, "exit_code", None)
    if isinstance(exc, KeyboardInterrupt) and isinstance(code, int):
        return code
    return EXIT_TERMINATED if _signal_number == signal.SIGTERM else EXIT_INTERRUPTED


def cancelled() -> bool:
    """True once a stop was requested."""
    return _stop.is_set()


def signal_name() -> str:
    """``SIGTERM``/``SIGINT`` when a signal stopped us, else ``cancel``."""
    return signal.Signals(_signal_number).name if _signal_number is not None else "cancel"


def cancel(signum: int | None = None) -> None:
    """Request a stop: wake every waiter and abort every registered in-flight call."""
    global _signal_number
    if signum is not None and _signal_number is None:
        _signal_number = signum
    _stop.set()
    with _lock:
        callbacks = list(_callbacks.values())
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one broken abort must not keep the others from running
            continue


def reset() -> None:
    """Clear the flag (a new run in the same process, e.g. in tests)."""
    global _signal_number
    _stop.clear()
    _signal_number = None


def check() -> None:
    """Raise ``Cancelled`` when a stop was requested."""
    if _stop.is_set():
        raise Cancelled(f"cancelled by {signal_name()}")


def sleep(seconds: float) -> None:
    """``time.sleep`` that ends early, with ``Cancelled``, when a stop is requested."""
    if _stop.wait(max(0.0, seconds)):
        check()


def on_cancel(callback: Callable[[], None]) -> int:
    """Call ``callback`` (from the signal handler's thread) when a stop is requested; returns a handle."""
    global _next_id
    with _lock:
        _next_id += 1
        handle = _next_id
        _callbacks[handle] = callback
    if _stop.is_set():
        callback()
    return handle


def forget(handle: int) -> None:
    """Unregister a callback from ``on_cancel``."""
    with _lock:
        _callbacks.pop(handle, None)


def _handle(signum: int, frame: FrameType | None) -> None:
    first = not _stop.is_set()
    cancel(signum)
    if first:  # a second Ctrl-C must not interrupt the writing of the partial report
        raise Interrupted(signum)


@contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM cancel the run and raise ``Interrupted`` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    reset()
    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
