"""Analytical side of rooftile: workloads as ops, machines as rooflines, and the paper's claims.

- :mod:`.models`: transformer configurations (MHA, GQA, MLA, MoE) with their sources.
- :mod:`.ops`: a layer decomposed into GEMM-shaped ops, costed by registered formulas.
- :mod:`.moe`: tokens per expert, expected and sampled, with expert parallelism.
- :mod:`.hardware`: machine presets and the roofline of a rooftile tile.
- :mod:`.roofline`: attainable performance, bound, time and crossover batch sizes.
- :mod:`.claims`: the headline claims of arXiv 2507.15465, computed.
- :mod:`.report`, :mod:`.plots`, :mod:`.cli`: tidy tables, figures and ``rooftile roofline``.
- :mod:`.comparison`, :mod:`.study_report`: RTL measurements next to the model and the
  roofline, gap explanations from counters, and the files of ``rooftile study``.
- :mod:`.area`: silicon area of a tile and of an attention unit, for iso-area comparisons.
- :mod:`.mapping`, :mod:`.capacity`, :mod:`.interconnect`, :mod:`.system`: deployments
  (TP/DP/EP), memory capacity and B_cap, all-to-all and all-reduce times, TPOT and B_SLO;
  :mod:`.system_plots` draws them and ``rooftile claims`` prints them.
"""
