"""The staleness rule the node and bag replay share (control.session.stale_reason)."""

from dyq_vla_ros.control import stale_reason

INPUTS = (("image", 9.5), ("joint state", 9.8))


def test_fresh_inputs_with_an_instruction_can_be_acted_on():
    assert stale_reason(10.0, instruction="put the red peg", inputs=INPUTS, timeout_s=1.0) == ""


def test_an_input_older_than_the_timeout_is_named_with_its_age():
    reason = stale_reason(10.7, instruction="put the red peg", inputs=INPUTS, timeout_s=1.0)
    assert reason == "image stale (1.20 s)"
    # exactly at the timeout is still fresh; the bound is strict
    assert stale_reason(10.5, instruction="x", inputs=INPUTS, timeout_s=1.0) == ""


def test_a_missing_input_or_instruction_comes_before_age():
    never = (("image", 0.0), ("wrist camera", None))
    assert stale_reason(100.0, instruction="x", inputs=never, timeout_s=1.0) == "no wrist camera received"
    assert stale_reason(10.0, instruction="", inputs=INPUTS, timeout_s=1.0) == "no instruction"
