"""Episodes in worker processes and as Ray tasks give the results one process gives, seed for seed."""

import pytest
import torch

from dyq_vla_ros.evaluation import ClosedLoopEvaluator
from dyq_vla_ros.evaluation.parallel import ParallelError, Workers
from dyq_vla_ros.sim import SimConfig, eval_seeds
from dyq_vla_ros.types import PrecisionMode

SEEDS = eval_seeds(3, 40)


def _records(results):
    return [(r.seed, r.success, r.steps, round(r.final_distance_mm, 6), r.inference_bits) for r in results]


def test_workers_and_ray_equal_one_process():
    torch.set_num_threads(1)  # as every worker runs
    config = SimConfig(max_steps=30)
    serial = _records(ClosedLoopEvaluator(sim_config=config).run_episodes(SEEDS, PrecisionMode.DYQ, progress=False))
    with ClosedLoopEvaluator(sim_config=config, workers=2) as ev:
        assert _records(ev.run_episodes(SEEDS, PrecisionMode.DYQ, progress=False)) == serial
    pytest.importorskip("ray", reason="ray is the optional extra dyq_vla_ros[ray]")
    import ray

    try:
        with ClosedLoopEvaluator(sim_config=config, workers=2, ray_address="local") as ev:
            assert _records(ev.run_episodes(SEEDS, PrecisionMode.DYQ, progress=False)) == serial
    finally:
        ray.shutdown()


def test_bad_worker_settings_are_user_errors():
    with pytest.raises(ParallelError, match="at least 1"):
        Workers(dict, workers=0)
