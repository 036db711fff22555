"""Where independent tasks run: threads of this process, or a Dask cluster.

One small interface serves the study's simulator starts
(:func:`~rooftile.sim.run.pipeline.run_batches`) and the sweep's chunks of points
(:mod:`rooftile.sim.sweep`): ``engine.run(fn, tasks)`` yields ``(index, result, error)``
as each ``fn(task)`` finishes, so a caller can record a result (or a failure) the moment
it exists; ``engine.workers`` says how many run at once; ``engine.local`` whether they
share this machine's build cache.

- :class:`LocalEngine`: a thread pool (each simulator start is a subprocess, so threads
  are enough); the study's default.
- :class:`DaskEngine`: Dask distributed, an embedded ``LocalCluster`` (one worker process
  per core, one thread each) or an existing cluster at a scheduler address; the sweep's
  default. Each worker builds into its own ``ROOFTILE_CACHE``; the build lock of
  :func:`~rooftile.sim.run.flow.build` makes concurrent builds of one configuration safe.
"""

import concurrent.futures
import logging
import os

from ...hdl.errors import InputError

__all__ = ["LocalEngine", "DaskEngine", "engine_for"]


class LocalEngine:
    """Tasks in ``workers`` threads (default: the cores)."""
    local = True

    def __init__(self, workers=None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.description = f"{self.workers} local thread(s)"

    def run(self, fn, tasks):
        """Yield ``(index, result, error)`` per task as it finishes; closing the generator
        cancels the tasks not started."""
        tasks = list(tasks)
        with concurrent.futures.ThreadPoolExecutor(min(self.workers, len(tasks) or 1)) as pool:
            futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    error = future.exception()
                    yield futures[future], (None if error else future.result()), error
            finally:
                for future in futures:
                    future.cancel()

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DaskEngine(LocalEngine):
    """Tasks on Dask workers: an embedded ``LocalCluster`` of ``workers`` processes
    (default: the cores) with one thread each, or the cluster whose scheduler listens at
    ``scheduler`` (``tcp://HOST:PORT``).

    Raises
    ------
    InputError
        No scheduler answers at ``scheduler``.
    """

    def __init__(self, scheduler=None, workers=None):
        from distributed import Client, LocalCluster
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as error:
                raise InputError(f"no Dask scheduler answers at --scheduler {scheduler}: "
                                 f"{error}") from None
            self.local = False
            self.client.wait_for_workers(1, timeout=60)
        else:
            count = max(1, workers or os.cpu_count() or 1)
            # No dashboard (no port to collide with) and quiet logs: progress is ours.
            self._cluster = LocalCluster(n_workers=count, threads_per_worker=1,
                                         processes=True, dashboard_address=None,
                                         silence_logs=logging.ERROR)
            self.client = Client(self._cluster)
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))
        where = scheduler or "an embedded LocalCluster"
        self.description = f"Dask, {self.workers} worker(s) on {where}"

    def run(self, fn, tasks):
        from distributed import as_completed
        futures = self.client.map(fn, list(tasks), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                try:
                    yield index[future.key], future.result(), None
                except Exception as error:      # the task's own error, re-raised here
                    yield index[future.key], None, error
        finally:
            self.client.cancel(futures)

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def engine_for(scheduler=None, workers=None):
    """Dask on ``scheduler`` when one is named, else local threads."""
    return DaskEngine(scheduler, workers) if scheduler else LocalEngine(workers)
