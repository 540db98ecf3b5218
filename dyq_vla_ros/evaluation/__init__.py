"""Closed-loop evaluation of a policy in the built-in simulator, per precision mode."""

from dyq_vla_ros.evaluation.bench import SCALE_PRESETS, bench_policy, not_faster_than, run_bench
from dyq_vla_ros.evaluation.closed_loop import ClosedLoopEvaluator, EpisodeResult, summarise, wilson_interval

__all__ = [
    "SCALE_PRESETS",
    "ClosedLoopEvaluator",
    "EpisodeResult",
    "bench_policy",
    "not_faster_than",
    "run_bench",
    "summarise",
    "wilson_interval",
]
