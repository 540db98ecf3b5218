"""Every node parameter set at start or at run time, and its effect observed over DDS; diagnostics counters."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dyq_vla_ros import contract
from dyq_vla_ros.policy import EMBEDDED_MODEL_DIR
from dyq_vla_ros.ros.harness.synthetic_source import MotionPhase

RATE_HZ = 20.0
STILL = (MotionPhase("still", 1000.0, speed=0.0),)
"""A robot standing still: joint velocity 0, so fineness M~ = 1 and jerk J~ = 0 and S = lambda exactly."""


def _sensitivities(recorder) -> list[float]:
    return [m.data for m in recorder.values(contract.TOPIC_SENSITIVITY)]


def test_lambda_thresholds_hysteresis_and_proxy_source_live(spin, recorder, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ, proxy_source="joint_state", calibrated_thresholds=False, sensitivity_lambda=0.2)
    start_source(script=STILL)
    node_api.wait_for_actions(30)
    assert _sensitivities(recorder)[-1] == pytest.approx(0.2)  # S = lambda while still
    assert [m.data for m in recorder.values(contract.TOPIC_BIT_WIDTH)][-1] == 4  # 0.15 < S <= 0.3

    assert node_api.set_param("sensitivity_lambda", 0.9).successful  # S = 0.9 > theta_fp: 16 bits at once
    spin.until(lambda: _sensitivities(recorder)[-1] == pytest.approx(0.9), 10, "S = 0.9")
    spin.until(lambda: recorder.values(contract.TOPIC_BIT_WIDTH)[-1].data == 16, 10, "16 bits")

    assert node_api.set_param("downgrade_steps", 1000).successful
    assert node_api.set_params(theta_fp=1.0, theta_4_8=1.0, theta_2_4=1.0)[2].successful  # everything asks 2 bits
    recorder.clear()
    spin.until(lambda: len(recorder.values(contract.TOPIC_BIT_WIDTH)) >= 40, 30, "40 ticks")
    assert {m.data for m in recorder.values(contract.TOPIC_BIT_WIDTH)} == {16}  # K = 1000: no downgrade yet

    assert node_api.set_param("downgrade_steps", 3).successful
    spin.until(lambda: recorder.values(contract.TOPIC_BIT_WIDTH)[-1].data == 2, 10, "the downgrade after K = 3")

    assert node_api.set_param("proxy_source", "action").successful  # proxies from the commanded actions now
    recorder.clear()
    spin.until(lambda: len(_sensitivities(recorder)) >= 30, 30, "30 ticks")
    assert any(abs(s - 0.9) > 1e-3 for s in _sensitivities(recorder)[10:])


def test_joint_names_live_and_the_missing_joints_named(spin, recorder, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ)
    start_source()
    node_api.wait_for_actions(5)
    assert node_api.set_param("joint_names", ["elbow_joint", "no_such_joint"]).successful
    spin.until(
        lambda: "lacks expected joints: no_such_joint" in node_api.statuses()[-1].message, 20, "the missing joint named"
    )
    count = len(recorder.values(contract.TOPIC_ACTION))
    assert node_api.set_param("joint_names", [""]).successful  # back to the checkpoint's names
    spin.until(lambda: len(recorder.values(contract.TOPIC_ACTION)) > count + 5, 30, "commanding again")


def test_start_parameters_show_in_the_log(spin, start_node, start_source, node_api):
    proc = start_node(inference_threads=2, quant_backend="reference", keep_float_modules="['']")
    start_source()
    node_api.wait_for_actions(3)
    log = proc.log()
    assert "2 inference threads" in log
    assert "66 linear layers at W4" in log and "0 kept in float" in log and "backend reference" in log


def test_instruction_parameter_commands_without_a_topic_message(spin, recorder, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ, instruction="put the red peg into the blue hole")
    start_source(send_instruction=False)
    node_api.wait_for_actions(5)


def test_actions_per_chunk_zero_executes_whole_chunks(spin, recorder, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ, actions_per_chunk=0, precision_mode="fp")
    start_source()
    spin.until(lambda: int(node_api.latest().get("inferences", 0)) >= 10, node_api.startup_s, "10 inferences")
    values = node_api.latest()
    # the embedded model's 10-action chunks run out before replanning (less the look-ahead); with 5 it is 5 or fewer
    assert int(values["published_actions"]) / int(values["inferences"]) > 6.0, values


def test_latency_budget_warns_when_inference_is_over_it(spin, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ, latency_budget_ms=1.0)
    start_source()
    spin.until(
        lambda: any(s.level == s.WARN and "over budget" in s.message for s in node_api.statuses()),
        node_api.startup_s,
        "the over-budget warning",
    )


def test_diagnostics_period_and_the_status_on_a_switch(spin, recorder, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ, precision_mode="w4a8", diagnostics_period_s=60.0)
    start_source()
    node_api.wait_for_actions(10)
    assert node_api.set_param("precision_mode", "w4a4").successful
    # with a 60 s period, a status showing the new width within 20 s can only be the switch's own
    spin.until(
        lambda: any(node_api.values(s)["activation_bits"] == "4" for s in node_api.statuses()), 20, "status on switch"
    )
    values = node_api.latest()
    assert int(values["switch_count"]) >= 1 and int(values["starved_ticks"]) >= 1  # ticks before the first chunk


def test_published_actions_counts_every_action(spin, recorder, start_node, start_source, node_api):
    start_node(control_rate_hz=RATE_HZ, diagnostics_period_s=0.2)
    start_source()
    node_api.wait_for_actions(20)
    assert node_api.set_param("dry_run", True).successful  # nothing more is published; counters settle
    spin.for_(1.0)
    received = len(recorder.values(contract.TOPIC_ACTION))  # reliable on both sides, matched before publishing
    spin.until(lambda: int(node_api.latest()["published_actions"]) == received, 10, "the counter to match")


def test_pickle_weights_load_only_when_allowed(tmp_path, spin, recorder, start_node, start_source, node_api):
    ck = tmp_path / "pickle_only"
    shutil.copytree(EMBEDDED_MODEL_DIR, ck)
    torch.save(load_file(ck / "model.safetensors"), ck / "pytorch_model.bin")
    (ck / "model.safetensors").unlink()
    start_node(control_rate_hz=RATE_HZ, model_path=str(ck), allow_pickle_weights=True)
    start_source()
    node_api.wait_for_actions(5)
    assert all(np.all(np.isfinite(m.data)) for m in recorder.values(contract.TOPIC_ACTION))


def test_flow_steps_follow_sensitivity_on_the_topic_and_in_diagnostics(
    spin, recorder, start_node, start_source, node_api
):
    start_node(
        control_rate_hz=RATE_HZ,
        proxy_source="joint_state",
        sensitivity_lambda=0.2,  # S = 0.2 while still: below theta_flow, so the reduced count
        flow_steps_reduced=2,
        theta_flow=0.5,
        diagnostics_period_s=0.2,
    )
    start_source(script=STILL)
    spin.until(lambda: recorder.values(contract.TOPIC_FLOW_STEPS), node_api.startup_s, "flow steps")
    assert recorder.values(contract.TOPIC_FLOW_STEPS)[0].data == 5  # an episode starts at the full count
    spin.until(lambda: recorder.values(contract.TOPIC_FLOW_STEPS)[-1].data == 2, 30, "the reduced count")
    spin.until(lambda: node_api.latest().get("flow_steps") == "2", 10, "flow_steps in diagnostics")
    assert node_api.set_param("sensitivity_lambda", 0.9).successful
    spin.until(lambda: recorder.values(contract.TOPIC_FLOW_STEPS)[-1].data == 5, 10, "the full count again")
