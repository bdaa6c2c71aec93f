"""Run the same call from `n` threads released together by a barrier: the way concurrent
requests reach a server (each thread makes its own test client)."""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


def at_once(n: int, call: Callable[[int], T], timeout_s: float = 60.0) -> list[T]:
    """`call(i)` for i in 0..n-1, all started at the same moment; the results in order."""
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        barrier.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return results
