"""``rooftile sweep``: accelerator variants x workloads on a local or Dask cluster.

From Python::

    from rooftile.sim.sweep import load_sweep, run_sweep
    run_sweep(load_sweep("sweep.toml"), "results/sweep")             # embedded LocalCluster
    run_sweep(sweep, out, engine=DaskEngine("tcp://host:8786"))      # an existing cluster
"""

from ..run.engine import DaskEngine, LocalEngine
from .run import run_sweep
from .spec import EXAMPLE, Point, Sweep, SweepError, load_sweep, sweep_from_tables

__all__ = ["load_sweep", "sweep_from_tables", "run_sweep", "Sweep", "Point", "SweepError",
           "EXAMPLE", "DaskEngine", "LocalEngine"]
