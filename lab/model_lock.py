"""One lock per cached model, so that concurrent sessions take turns on it.

Every session of the server runs its script in its own thread, and the models of ``st.cache_resource``
are shared by all of them. Analyses attach hooks to a model for the length of one run: without turns, a
forward pass of one session would also fire the hooks of another (its activations would land in the
other's results), and an attribution's hook guard could remove another session's hooks mid-run.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from torch import nn

# Keyed by the model object, weakly: a model evicted from its cache takes its lock with it.
_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_of(model: nn.Module) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(model, threading.RLock())


@contextmanager
def exclusive(*models: nn.Module) -> Iterator[None]:
    """Hold ``models`` for this thread for the block (re-entrant: nested runs in one session are fine).

    Several models are taken in one fixed order, so two sessions comparing the same pair cannot deadlock.
    """
    with ExitStack() as stack:
        for model in sorted(set(models), key=id):
            stack.enter_context(_lock_of(model))
        yield
