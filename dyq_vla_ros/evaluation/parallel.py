"""Episodes spread over worker processes or a Ray cluster, with the same results as one process per seed.

Each worker builds its context once (a policy, an evaluator) from a picklable factory and then runs
task(context, item) for the items it is handed; results come back in item order. Every worker
runs torch on one thread, as the episodes are independent and deterministic per seed.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from dyq_vla_ros.errors import DyqVlaError

T = TypeVar("T")
R = TypeVar("R")

_CONTEXT: Any = None
"""The context of this worker process."""


class ParallelError(DyqVlaError):
    """A worker setting that cannot be used (bad count, Ray not installed or not reachable)."""


def _start(factory: Callable[..., Any], args: tuple) -> None:
    import torch

    global _CONTEXT
    torch.set_num_threads(1)
    _CONTEXT = factory(*args)


def _run(task: Callable[[Any, Any], Any], item: Any) -> Any:
    return task(_CONTEXT, item)


class _RayHost:
    """A Ray actor holding one worker's context."""

    def __init__(self, factory: Callable[..., Any], args: tuple) -> None:
        _start(factory, args)

    def run(self, task: Callable[[Any, Any], Any], item: Any) -> Any:
        return _run(task, item)


class Workers:
    """A pool of workers, each with its own context, in local processes or on a Ray cluster."""

    def __init__(
        self, factory: Callable[..., Any], args: tuple = (), *, workers: int = 1, ray_address: str = ""
    ) -> None:
        """factory(*args) builds a worker's context; ray_address: "local" or a cluster's address ("" for processes)."""
        if workers < 1:
            raise ParallelError(f"workers must be at least 1, got {workers}")
        self.factory, self.args, self.workers, self.ray_address = factory, args, workers, ray_address
        self._pool: ProcessPoolExecutor | None = None
        self._actors: list[Any] = []

    def map(self, task: Callable[[Any, T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """(index, task(context, item)) as each finishes, for every item."""
        if self.ray_address:
            yield from self._map_ray(task, items)
            return
        from concurrent.futures import as_completed

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.factory, self.args),
            )
        futures = {self._pool.submit(_run, task, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def _map_ray(self, task: Callable[[Any, T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        try:
            import ray
        except ImportError:
            raise ParallelError("--ray needs the ray package: pip install 'dyq_vla_ros[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=None if self.ray_address == "local" else self.ray_address, log_to_driver=False)
            except Exception as exc:  # ray raises ConnectionError and others for unreachable clusters
                raise ParallelError(f"cannot connect to the Ray cluster at {self.ray_address}: {exc}") from exc
        if not self._actors:
            host = ray.remote(num_cpus=1)(_RayHost)
            self._actors = [host.remote(self.factory, self.args) for _ in range(self.workers)]
        pending = {self._actors[i % len(self._actors)].run.remote(task, item): i for i, item in enumerate(items)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)

    def close(self) -> None:
        """Stop the worker processes or Ray actors."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._actors:
            import ray

            for actor in self._actors:
                ray.kill(actor)
            self._actors = []
