"""The node's lifecycle: every transition, the invalid ones refused, shutdown and SIGINT."""

from __future__ import annotations

from lifecycle_msgs.msg import State, Transition

from dyq_vla_ros import contract
from dyq_vla_ros.ros.harness.synthetic_source import SyntheticSource

RATE_HZ = 20.0


def test_transitions_valid_and_invalid(executor, spin, recorder, start_node, node_api):
    proc = start_node(control_rate_hz=RATE_HZ, autostart=False)
    executor.add_node(SyntheticSource())
    spin.until(lambda: node_api.statuses(), node_api.startup_s, "the node to come up")
    assert node_api.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert not node_api.transition(Transition.TRANSITION_ACTIVATE)  # not from unconfigured
    assert not node_api.transition(Transition.TRANSITION_DEACTIVATE)
    assert node_api.state() == State.PRIMARY_STATE_UNCONFIGURED and not recorder.values(contract.TOPIC_ACTION)

    assert node_api.transition(Transition.TRANSITION_CONFIGURE)
    assert not node_api.transition(Transition.TRANSITION_CONFIGURE)  # already configured
    assert node_api.transition(Transition.TRANSITION_ACTIVATE)
    node_api.wait_for_actions(5)
    assert node_api.transition(Transition.TRANSITION_DEACTIVATE)
    assert node_api.state() == State.PRIMARY_STATE_INACTIVE
    spin.until(lambda: list(recorder.values(contract.TOPIC_ACTION)[-1].data[:6]) == [0.0] * 6, 10, "the hold")
    stopped = len(recorder.values(contract.TOPIC_ACTION))
    assert node_api.transition(Transition.TRANSITION_ACTIVATE)  # again, without a cleanup in between
    spin.until(lambda: len(recorder.values(contract.TOPIC_ACTION)) > stopped + 5, 30, "commanding again")

    assert node_api.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert node_api.state() == State.PRIMARY_STATE_FINALIZED
    spin.until(lambda: list(recorder.values(contract.TOPIC_ACTION)[-1].data[:6]) == [0.0] * 6, 10, "a last hold")
    assert proc.proc.poll() is None  # finalized, still answering
    assert proc.stop() == 0, proc.log()[-2000:]


def test_sigint_while_commanding_exits_cleanly(executor, spin, recorder, start_node, node_api):
    proc = start_node(control_rate_hz=RATE_HZ)
    executor.add_node(SyntheticSource())
    node_api.wait_for_actions(5)
    assert proc.stop() == 0, proc.log()[-2000:]
    assert "Traceback" not in proc.log()


def test_configure_refuses_bounds_of_the_wrong_length(spin, start_node, node_api):
    start_node(action_min="[-0.05,-0.05,-0.05,-0.25,-0.25,-0.25]", action_max="[0.05,0.05,0.05,0.25,0.25,0.25]")
    spin.until(
        lambda: any(
            s.level == s.ERROR and "action_min/action_max have 6 values but the model's actions have 7" in s.message
            for s in node_api.statuses()
        ),
        node_api.startup_s,
        "the configure error",
    )
    assert node_api.state() == State.PRIMARY_STATE_UNCONFIGURED
