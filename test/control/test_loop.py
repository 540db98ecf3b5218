"""The ROS-free control loop: chunk alignment, clipping, pipelining, proxies and controller per tick."""

import numpy as np
import pytest

from dyq_vla_ros.control import ControlLoop, hold_action, latch_gripper, lookahead
from dyq_vla_ros.dyq import ActionProxies, JointStateProxies, PrecisionController, SensitivityEstimator
from dyq_vla_ros.types import PrecisionMode

LO = [-1.0] * 6 + [-1.0]
HI = [1.0] * 6 + [1.0]


def _loop(**kw) -> ControlLoop:
    def est():
        return SensitivityEstimator(speed_p95=1.0, change_p95=1.0, motion_window=1, jerk_window=1, min_samples=1000)

    args = dict(action_min=LO, action_max=HI)
    args.update(kw)
    return ControlLoop(PrecisionController(downgrade_steps=1), ActionProxies(est()), JointStateProxies(est()), **args)


def _chunk(n=10, start=0):
    return np.array([[0.01 * (start + i)] * 6 + [1.0] for i in range(n)], dtype=np.float32)


def test_one_action_per_tick_then_starved():
    loop = _loop()
    loop.accept_chunk(_chunk(3))
    actions = [loop.tick().action for _ in range(4)]
    assert [a[0] for a in actions[:3]] == pytest.approx([0.0, 0.01, 0.02])
    assert actions[3] is None


def test_a_late_chunk_skips_the_actions_executed_since_its_request():
    loop = _loop()
    loop.accept_chunk(_chunk(10))
    for _ in range(7):
        loop.tick()
    loop.mark_requested()  # inference starts with 3 actions left
    loop.tick()
    loop.tick()  # two actions ran while it was computing
    loop.accept_chunk(_chunk(10, start=50))
    assert loop.tick().action[0] == pytest.approx(0.52)  # index 2 of the new chunk
    assert loop.queued == 7


def test_actions_per_chunk_limits_what_is_executed():
    loop = _loop(actions_per_chunk=4)
    loop.accept_chunk(_chunk(10))
    assert loop.queued == 4


def _gripper_chunk(*commands):
    return np.array([[0.0] * 6 + [g] for g in commands], dtype=np.float32)


def test_the_gripper_switches_at_most_once_per_chunk():
    # closes at step 1 and would reopen at step 2: the close is kept for the rest of the chunk
    latched = latch_gripper(_gripper_chunk(-1.0, 1.0, -1.0, 0.2, -0.9), current=-1.0)
    assert latched[:, 6].tolist() == [-1.0, 1.0, 1.0, 1.0, 1.0]
    # holding closed: a single release stays a release; no switch leaves the chunk alone
    assert latch_gripper(_gripper_chunk(1.0, -1.0, 1.0), current=1.0)[:, 6].tolist() == [1.0, -1.0, -1.0]
    assert latch_gripper(_gripper_chunk(-1.0, -0.5), current=-1.0)[:, 6].tolist() == [-1.0, -0.5]
    # no command executed yet: the chunk's first action is the reference
    assert latch_gripper(_gripper_chunk(1.0, -1.0, 1.0), current=None)[:, 6].tolist() == [1.0, -1.0, -1.0]


def test_the_loop_latches_against_the_last_executed_gripper_command():
    loop = _loop()
    loop.accept_chunk(_gripper_chunk(-1.0, -1.0))
    loop.tick(), loop.tick()
    loop.mark_requested()
    loop.accept_chunk(_gripper_chunk(1.0, -1.0, -1.0))
    assert [loop.tick().action[6] for _ in range(3)] == [1.0, 1.0, 1.0]
    unlatched = _loop(gripper_latch=False)
    unlatched.accept_chunk(_gripper_chunk(1.0, -1.0, -1.0))
    assert [unlatched.tick().action[6] for _ in range(3)] == [1.0, -1.0, -1.0]


def test_actions_are_clipped_per_dimension():
    loop = _loop(action_min=[-0.005] * 6 + [-1.0], action_max=[0.005] * 6 + [0.5])
    loop.accept_chunk(_chunk(3, start=1))
    result = loop.tick()
    assert result.clipped
    np.testing.assert_allclose(result.action, [0.005] * 6 + [0.5])
    with pytest.raises(ValueError):
        loop.set_bounds([0.0], [0.0])


def test_lookahead_covers_the_p90_latency():
    assert lookahead([], 50.0, 10) == 0
    assert lookahead([120.0] * 10, 50.0, 10) == 3
    assert lookahead([5000.0], 50.0, 10) == 9  # never more than a chunk minus one
    loop = _loop()
    loop.accept_chunk(_chunk(5))
    assert not loop.should_request(inflight=False, lookahead_actions=3)
    loop.tick()
    loop.tick()
    assert loop.should_request(inflight=False, lookahead_actions=3)
    assert not loop.should_request(inflight=True, lookahead_actions=3)


def test_action_proxies_and_controller_step_each_tick():
    loop = _loop()
    loop.accept_chunk(np.zeros((3, 7), np.float32))  # no motion: fineness 1
    first = loop.tick()
    assert first.sample.motion_fineness == pytest.approx(1.0)
    fast = np.array([[1.0, 0, 0, 0, 0, 0, 1.0]] * 3, np.float32)  # at the P95 speed: fineness 0
    loop.accept_chunk(fast)
    result = loop.tick()
    assert result.sample.sensitivity == pytest.approx(0.0) and result.bits == 2


def test_joint_samples_are_used_once_per_stamp():
    loop = _loop(proxy_source="joint_state")
    q = np.zeros(7)
    assert loop.tick((q, 1.0)).sample is None  # one sample gives no velocity yet
    assert loop.tick((q, 1.0)).sample is None  # same stamp: ignored
    assert loop.tick((q + 0.1, 1.1)).sample is not None


def test_proxy_errors_are_reported_not_raised():
    loop = _loop(proxy_source="joint_state")
    loop.tick((np.zeros(7), 1.0))
    result = loop.tick((np.zeros(7), 0.5))
    assert "did not advance" in result.proxy_error


def test_hold_action_stops_motion_and_keeps_the_gripper():
    np.testing.assert_array_equal(hold_action(7, 0.5), [0, 0, 0, 0, 0, 0, 0.5])
    np.testing.assert_array_equal(hold_action(6, 0.5), np.zeros(6))  # an arm without a gripper value


def test_new_episode_resets_to_16_bits_and_empties_the_queue():
    loop = _loop()
    loop.controller.mode = PrecisionMode.DYQ
    loop.accept_chunk(np.array([[1.0, 0, 0, 0, 0, 0, 1.0]] * 5, np.float32))
    loop.tick()
    assert loop.tick().bits == 2
    loop.new_episode()
    assert loop.queued == 0 and loop.controller.bits == 16
    with pytest.raises(ValueError):
        loop.proxy_source = "imu"


def test_initial_thresholds_come_from_a_calibrated_model_unless_disabled():
    from dyq_vla_ros.control import initial_thresholds, make_control_loop
    from dyq_vla_ros.dyq import Calibration, Thresholds
    from dyq_vla_ros.params import NodeParams

    params = NodeParams.from_mapping(theta_2_4=0.1, theta_4_8=0.2, theta_fp=0.7)
    given = Thresholds(0.1, 0.2, 0.7)
    calibrated = Calibration(thresholds=Thresholds(0.05, 0.25, 0.45), allocation={"d_acc": 0.1})
    assert initial_thresholds(Calibration(thresholds=Thresholds(0.0, 0.0, 0.9)), params) == given  # defaults only
    assert initial_thresholds(calibrated, params) == Thresholds(0.05, 0.25, 0.45)
    assert initial_thresholds(calibrated, params.replace(calibrated_thresholds=False)) == given
    assert make_control_loop(calibrated, params).controller.thresholds == Thresholds(0.05, 0.25, 0.45)


def test_hardware_aware_widths_come_with_the_calibration_and_go_with_it():
    from dyq_vla_ros.control import make_control_loop
    from dyq_vla_ros.dyq import Calibration, Thresholds
    from dyq_vla_ros.params import NodeParams

    aware = Calibration(thresholds=Thresholds(0.1, 0.5, 0.5), allowed_bits=(8, 16), allocation={"d_acc": 0.3})
    params = NodeParams.from_mapping(precision_mode="dyq")
    assert make_control_loop(aware, params).controller.allowed_bits == (8, 16)
    hand = make_control_loop(aware, params.replace(calibrated_thresholds=False)).controller
    assert hand.allowed_bits == (2, 4, 8, 16) and hand.thresholds == Thresholds(0.15, 0.3, 0.5)


def test_reconfigure_applies_every_live_parameter():
    from dyq_vla_ros.control import make_control_loop
    from dyq_vla_ros.dyq import Calibration, Thresholds
    from dyq_vla_ros.params import NodeParams
    from dyq_vla_ros.types import PrecisionMode

    loop = make_control_loop(Calibration(), NodeParams.defaults())
    changed = NodeParams.from_mapping(
        precision_mode="w4a4",
        theta_2_4=0.1,
        theta_4_8=0.2,
        theta_fp=0.3,
        downgrade_steps=9,
        sensitivity_lambda=0.7,
        proxy_source="joint_state",
        actions_per_chunk=3,
        gripper_latch=False,
        action_min=[-1.0] * 7,
        action_max=[1.0] * 7,
    )
    loop.reconfigure(changed)
    c = loop.controller
    assert c.mode is PrecisionMode.W4A4 and c.bits == 4 and c.thresholds == Thresholds(0.1, 0.2, 0.3)
    assert c.downgrade_steps == 9 and loop.proxy_source == "joint_state"
    assert loop.action_proxies.estimator.lam == 0.7 and loop.joint_proxies.estimator.lam == 0.7
    assert loop.actions_per_chunk == 3 and loop.gripper_latch is False
    chunk = np.tile(np.array([0.5, 0, 0, 0, 0, 0, 1.0], np.float32), (10, 1))
    chunk[1:, 6] = -1.0  # a chunk that reopens the gripper a step after closing: not latched any more
    loop.accept_chunk(chunk)
    assert loop.queued == 3  # actions_per_chunk
    first = loop.tick().action
    assert first[0] == 0.5 and loop.tick().action[6] == -1.0  # wide bounds, no latch


def test_window_and_history_parameters_reach_the_estimators():
    from dyq_vla_ros.control import make_control_loop
    from dyq_vla_ros.dyq import Calibration
    from dyq_vla_ros.params import NodeParams

    loop = make_control_loop(Calibration(), NodeParams.from_mapping(motion_window=2, jerk_window=3, p95_history=10))
    estimator = loop.action_proxies.estimator
    assert estimator._m.maxlen == 2 and estimator._j.maxlen == 3
    assert estimator._speed_p95._values.maxlen == 10 and estimator._change_p95._values.maxlen == 10


def test_every_proxy_source_drives_the_controller():
    from dyq_vla_ros.control import make_control_loop
    from dyq_vla_ros.dyq import Calibration
    from dyq_vla_ros.params import NodeParams

    chunk = np.tile(np.array([0.01, 0, 0, 0, 0, 0, -1.0], np.float32), (10, 1))
    chunk[6:, 6] = 1.0  # the gripper closes 6 ticks into the chunk
    for source in ("action", "joint_state", "disagreement", "gripper", "fused"):
        params = NodeParams.from_mapping(proxy_source=source, downgrade_steps=1, actions_per_chunk=0)
        loop = make_control_loop(Calibration(), params)
        loop.accept_chunk(chunk)
        result = None
        for i in range(5):
            result = loop.tick((np.full(7, 0.01 * i), 0.1 * i))
        signals = loop.signals()
        assert result.sensitivity == pytest.approx(signals[source])
        assert signals["fused"] == max(signals["action"], signals["disagreement"], signals["gripper"])
    assert signals["gripper"] == pytest.approx(1 - 2 / 10)  # two ticks before the planned close
    with pytest.raises(ValueError, match="proxy source"):
        loop.proxy_source = "imu"


def test_flow_steps_follow_sensitivity_and_the_static_count():
    from dyq_vla_ros.control import make_control_loop
    from dyq_vla_ros.dyq import Calibration
    from dyq_vla_ros.params import NodeParams

    params = NodeParams.from_mapping(flow_steps_reduced=2, theta_flow=0.5, downgrade_steps=2, proxy_source="gripper")
    loop = make_control_loop(Calibration(), params, flow_steps=5)
    loop.accept_chunk(np.tile(np.array([0.01, 0, 0, 0, 0, 0, -1.0], np.float32), (10, 1)))  # no gripper change
    assert [loop.tick().flow_steps for _ in range(3)] == [5, 2, 2]
    loop.reconfigure(params.replace(flow_steps=3, flow_steps_reduced=0))
    assert loop.tick().flow_steps == 3


def test_disagreement_compares_the_new_chunk_with_the_rest_of_the_last_one():
    from dyq_vla_ros.control import make_control_loop
    from dyq_vla_ros.dyq import Calibration
    from dyq_vla_ros.params import NodeParams

    loop = make_control_loop(Calibration(), NodeParams.from_mapping(actions_per_chunk=5, proxy_source="disagreement"))

    def execute(chunk: np.ndarray) -> list[float]:
        loop.mark_requested()  # requested and delivered at once, as in-process evaluation runs it
        loop.accept_chunk(chunk)
        return [loop.tick().sensitivity for _ in range(5)]

    forward = np.tile(np.array([0.01, 0, 0, 0, 0, 0, -1.0], np.float32), (10, 1))
    assert execute(forward) == [0.0] * 5  # nothing planned before
    assert execute(forward) == [0.0] * 5  # what the last chunk planned for these ticks (its actions 5..9)
    sideways = np.tile(np.array([0, 0.01, 0, 0, 0, 0, -1.0], np.float32), (10, 1))
    assert execute(sideways) == [1.0] * 5  # a right angle: sqrt(2) times the action's length, clipped to 1
