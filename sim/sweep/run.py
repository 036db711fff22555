"""Run a sweep's points on an engine and stream their records to disk.

Points that share their builds (:attr:`~rooftile.sim.sweep.spec.Point.build_key`) are
grouped into tasks of a few points, so one build serves them all; the first task of
every key goes out first, so cold builds run in parallel. Each finished task's records
are appended to ``points.jsonl`` (one whole line each, flushed and synced) and the summary
``summary.csv`` is replaced atomically; a rerun reads the JSONL (a truncated last line, a
write the kill interrupted, is dropped) and skips every point already ``ok``, so a killed
sweep loses at most its points in flight. Failed points (a hang, a wrong output, a
simulator that is missing) are recorded with their diagnosis, the sweep goes on, and a
rerun tries them again.
"""

import fcntl
import json
import math
import os
import platform
import time
from pathlib import Path

from ...analysis.sweep import latest, point_metrics, write_csv, write_report
from ...analysis.verdict import ScaledRun
from ...hdl.errors import InputError
from ..run.engine import LocalEngine
from ..study.measure import run_scaled
from .spec import Point, SweepError

__all__ = ["run_point", "run_chunk", "ResultsFolder", "run_sweep", "tasks"]

#: Points per task at most: a task's points are lost if it is killed in flight.
CHUNK = 4


def run_point(point):
    """Run one point on this machine; return its record (``status`` ``"ok"``, or
    ``"wrong"`` with the ops whose output differs from numpy)."""
    began = time.perf_counter()
    layer, tile_programs, unit_programs = point.lower()
    spec, engine = point.spec, point.engine
    batches = {"tile": (spec.config, tile_programs)}
    if unit_programs:
        batches["unit"] = (engine, unit_programs)
    # One simulator start per configuration, in this process: the engine parallelises points.
    runs = run_scaled(batches, seed=spec.seed, simulator=spec.simulator, starts=1,
                      engine=LocalEngine(1))
    ops = []
    for op in layer.scaled:
        on = "unit" if op.key in unit_programs and op.attention is not None else "tile"
        config = engine if on == "unit" else spec.config
        run = runs[on][op.key]
        scaled = ScaledRun.of(config, op.flop, op.ideal_bytes(config.data_bytes),
                              run.prediction, run.counters)
        ops.append({"op": op.name, "on": on, "cycles": run.counters.cycles,
                    "model_cycles": run.prediction.cycles, "exact": run.exact,
                    "full_flop": op.full_flop, "full_bytes": op.full_bytes,
                    "mapping": scaled.derates.mapping, "dram": scaled.derates.dram,
                    "traffic": scaled.traffic, "sram_bytes_per_mac": scaled.sram_bytes_per_mac})
    wrong = [op["op"] for op in ops if not op["exact"]]
    v = point.values
    record = {"status": "wrong" if wrong else "ok", "ops": ops,
              **point_metrics(ops, config=spec.config, engine=engine, machine=v["machine"],
                              unit_kind=v["attention_unit"], dtype=point.dtype,
                              model=v["model"], batch=v["batch"])}
    if wrong:
        record["error"] = f"output differs from numpy: {', '.join(wrong)}"
    return record | {"wall_s": round(time.perf_counter() - began, 2)}


def run_chunk(chunk):
    """Run ``chunk`` (a list of point value dicts) one after the other; a point that
    fails is recorded with its diagnosis and the next one runs. The task a worker runs."""
    records = []
    for values in chunk:
        point = Point(values)
        began = time.perf_counter()
        try:
            record = run_point(point)
        except Exception as error:      # recorded: one point never stops the sweep
            record = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                      "wall_s": round(time.perf_counter() - began, 2)}
        records.append({"digest": point.digest, "values": values,
                        "worker": f"{platform.node()}:{os.getpid()}", **record})
    return records


def tasks(points, workers):
    """Chunks of points with one build key each, at most :data:`CHUNK` and few enough
    that every worker gets work; the first chunk of every key first."""
    by_key = {}
    for point in points:
        by_key.setdefault(point.build_key, []).append(point.values)
    size = max(1, min(CHUNK, math.ceil(len(points) / (2 * workers))))
    queues = [[mine[i:i + size] for i in range(0, len(mine), size)] for mine in by_key.values()]
    out = []
    while any(queues):
        out += [queue.pop(0) for queue in queues if queue]
    return out


class ResultsFolder:
    """``points.jsonl`` and ``summary.csv`` in ``out``, held by one sweep at a time."""

    def __init__(self, out, keys, fresh=False):
        self.out = Path(out)
        self.keys = keys
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.out / ".lock", "a")
        except OSError as error:
            raise SweepError(f"cannot write the sweep folder {out}: {error}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(f"another sweep is writing into {out}; wait for it or name "
                             f"another --out") from None
        self.jsonl = self.out / "points.jsonl"
        self.csv = self.out / "summary.csv"
        if fresh:
            for path in (self.jsonl, self.csv):
                path.unlink(missing_ok=True)
        self.records = self._read()

    def _read(self):
        """The whole lines of the JSONL; a torn last line is cut off the file."""
        if not self.jsonl.exists():
            return []
        data = self.jsonl.read_bytes()
        whole = data[:data.rfind(b"\n") + 1]
        if len(whole) != len(data):
            with open(self.jsonl, "r+b") as f:
                f.truncate(len(whole))
        return [json.loads(line) for line in whole.decode().splitlines() if line.strip()]

    def finished(self):
        """Digests of the points whose latest record is ``ok``."""
        return {r["digest"] for r in latest(self.records) if r["status"] == "ok"}

    def add(self, records):
        """Append ``records`` as whole lines (synced), then replace the CSV."""
        with open(self.jsonl, "a") as f:
            f.write("".join(json.dumps(r, default=str) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())
        self.records += records
        write_csv(self.csv, self.records, self.keys)

    def close(self):
        self._lock.close()


def _say(message):
    print(message, flush=True)


def run_sweep(sweep, out, *, engine=None, fresh=False, progress=_say):
    """Run ``sweep``'s unfinished points on ``engine`` (default: an embedded Dask
    LocalCluster, one worker per core), write ``points.jsonl``, ``summary.csv`` and the
    report into ``out``; return the report's paths by kind.

    Raises
    ------
    SweepError
        ``out`` cannot be written or another sweep holds it.
    """
    keys = list(sweep.axes)
    folder = ResultsFolder(out, keys, fresh)
    try:
        done = folder.finished()
        todo = [p for p in sweep.points if p.digest not in done]
        for values, why in sweep.skipped:
            progress(f"skipped {Point(values).label(keys)}: {why}")
        progress(f"sweep {sweep.name}: {len(sweep.points)} points, {len(sweep.points) - len(todo)}"
                 f" already finished in {out}, {len(todo)} to run, {len(sweep.skipped)} skipped")
        if todo:
            _run(sweep, todo, folder, engine, progress)
        mine = [r for r in folder.records if r["digest"] in {p.digest for p in sweep.points}]
        paths = write_report(folder.out, mine, sweep.axes[:2], keys, sweep.skipped, sweep.name)
        progress(f"sweep {sweep.name}: wrote {paths['report']}, {folder.jsonl}, {folder.csv}")
        return paths
    finally:
        folder.close()


def _run(sweep, todo, folder, engine, progress):
    from ..run.engine import DaskEngine
    own = engine is None
    if own:
        progress("starting an embedded Dask LocalCluster (one worker per core)")
        engine = DaskEngine()
    try:
        work = tasks(todo, engine.workers)
        progress(f"running {len(todo)} points as {len(work)} tasks on {engine.description}")
        began, count, failed = time.perf_counter(), 0, 0
        for i, records, error in engine.run(run_chunk, work):
            if error is not None:       # the task itself died (a lost worker)
                records = [{"digest": Point(v).digest, "values": v, "status": "failed",
                            "error": f"task lost: {type(error).__name__}: {error}"}
                           for v in work[i]]
            folder.add(records)
            for r in records:
                count += 1
                failed += r["status"] != "ok"
                elapsed = time.perf_counter() - began
                eta = elapsed / count * (len(todo) - count)
                result = (f"layer {r['layer_time_us']:.3g} us, {r['energy_per_token_J']:.3g} "
                          f"J/token" if r["status"] == "ok" else r["error"].splitlines()[0])
                progress(f"[{count}/{len(todo)}] {r['status']:<6} "
                         f"{Point(r['values']).label(folder.keys)}: {result} | {failed} failed"
                         f" | {elapsed:.0f} s, ETA {eta:.0f} s")
    finally:
        if own:
            engine.close()


def check_out(out):
    """``out`` as a folder path, refusing a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; name a folder")
    return out
