"""The policy's own sensitivity signals and the flow-step controller."""

import numpy as np
import pytest

from dyq_vla_ros.dyq import DisagreementSignal, FlowStepController, GripperSignal, ProxyInputError


def test_disagreement_is_the_relative_distance_to_the_previous_plan():
    signal = DisagreementSignal(dims=2)
    plan = np.array([[0.01, 0.0, 1.0], [0.01, 0.0, 1.0]])
    assert signal.update(None, plan) == 0.0  # nothing to disagree with
    assert signal.update(plan, plan.copy()) == 0.0  # the same plan
    half = np.array([[0.01, 0.005, -1.0], [0.01, 0.005, -1.0]])  # the gripper column is not compared
    size = (np.hypot(0.01, 0.005) + 0.01) / 2
    assert signal.update(plan, half) == pytest.approx(0.005 / size)
    turned = np.array([[0.0, 0.01, 1.0], [0.0, 0.01, 1.0]])  # a right angle: sqrt(2) times as far, clipped to 1
    assert signal.update(plan, turned) == 1.0
    with pytest.raises(ProxyInputError):
        signal.update(plan, np.full((2, 3), np.nan))
    signal.reset()
    assert signal.value == 0.0


def test_disagreement_is_clipped_to_one_and_compares_only_the_overlap():
    signal = DisagreementSignal(dims=None)
    assert signal.update(np.ones((1, 2)), np.vstack([-np.ones((1, 2)), np.zeros((4, 2))])) == 1.0


def test_gripper_nearness_rises_before_a_planned_change_and_fades_after():
    signal = GripperSignal(horizon=4)
    values = [signal.update(-1.0, [-1.0, -1.0, 1.0, 1.0])]  # the close is 3 ticks ahead
    values.append(signal.update(-1.0, [-1.0, 1.0, 1.0]))
    values.append(signal.update(-1.0, [1.0, 1.0]))
    values.append(signal.update(1.0, [1.0]))  # closes now
    values += [signal.update(1.0, []) for _ in range(5)]
    assert values == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0])


def test_flow_steps_upgrade_at_once_and_downgrade_after_k():
    flow = FlowStepController(5, reduced=1, theta=0.5, downgrade_steps=3)
    assert flow.steps == 5  # an episode starts at the full count
    assert [flow.step(s) for s in (0.1, 0.1, 0.1, 0.1, 0.9, 0.1)] == [5, 5, 1, 1, 5, 5]
    flow.reset()
    assert flow.steps == 5
    off = FlowStepController(5)
    assert not off.enabled and off.step(0.0) == 5
    with pytest.raises(ValueError):
        FlowStepController(5, reduced=1, theta=1.5)
