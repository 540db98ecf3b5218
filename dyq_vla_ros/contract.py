"""The node's public contract: topic names, parameters and diagnostic keys, defined once.

Imported by the node, the launch-file tests and the docs checks; it must not import rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass

from dyq_vla_ros.types import PrecisionMode

PACKAGE = "dyq_vla_ros"
NODE_NAME = "dyq_vla_node"
NODE_EXECUTABLE = "dyq_vla_node"

# Subscribed topics.
TOPIC_IMAGE = "/camera/image_raw"
TOPIC_IMAGE_COMPRESSED = "/camera/image_raw/compressed"
"""sensor_msgs/CompressedImage (jpeg/png), the image_transport name; the newest frame of either topic is used."""
TOPIC_WRIST_IMAGE = "/camera/wrist/image_raw"
"""sensor_msgs/Image of the wrist camera; subscribed only when the checkpoint takes a wrist image."""
TOPIC_JOINT_STATES = "/joint_states"
TOPIC_INSTRUCTION = "/dyq_vla/instruction"

# Published topics.
TOPIC_ACTION = "/dyq_vla/action"
TOPIC_BIT_WIDTH = "/dyq_vla/bit_width"
TOPIC_SENSITIVITY = "/dyq_vla/sensitivity"
TOPIC_FLOW_STEPS = "/dyq_vla/flow_steps"
"""std_msgs/UInt8: flow-matching integration steps the next inference uses."""
TOPIC_TWIST = "/dyq_vla/twist"
TOPIC_GRIPPER = "/dyq_vla/gripper"
TOPIC_MARKERS = "/dyq_vla/markers"
TOPIC_JOINT_TRAJECTORY = "/dyq_vla/joint_trajectory"
"""trajectory_msgs/JointTrajectory of the chunk's actions still to execute (joint_position checkpoints)."""
TOPIC_JOINT_COMMAND = "/dyq_vla/joint_command"
"""std_msgs/Float64MultiArray of the current joint-position action (forward_command_controller)."""
TOPIC_DIAGNOSTICS = "/diagnostics"
TOPIC_CLOCK = "/clock"
"""rosgraph_msgs/Clock that `dyq-vla play --clock` publishes from a bag's timeline."""

DEFAULT_CAMERA_TOPICS = {"scene": TOPIC_IMAGE, "wrist": TOPIC_WRIST_IMAGE}
"""Topics of the built-in cameras; any other camera NAME defaults to /camera/NAME/image_raw."""


def camera_topic(name: str, overrides: dict[str, str] | None = None) -> str:
    """The topic of a checkpoint camera: camera_topics' entry for it (or its short name), else the default.

    LeRobot cameras are named `observation.images.NAME`; NAME is their short name.
    """
    short = name.rsplit(".", 1)[-1]
    for key in (name, short):
        if overrides and key in overrides:
            return overrides[key]
    return DEFAULT_CAMERA_TOPICS.get(short, f"/camera/{short}/image_raw")


def parse_camera_topics(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """NAME=TOPIC entries as a mapping ('' entries are skipped); ValueError for a malformed one."""
    out = {}
    for entry in entries:
        if not entry:
            continue
        name, sep, topic = entry.partition("=")
        if not sep or not name.strip() or not topic.strip().startswith("/"):
            raise ValueError(f"camera topic {entry!r} must be NAME=/topic")
        out[name.strip()] = topic.strip()
    return out


SUBSCRIBED_TOPICS = (TOPIC_IMAGE, TOPIC_IMAGE_COMPRESSED, TOPIC_WRIST_IMAGE, TOPIC_JOINT_STATES, TOPIC_INSTRUCTION)
PUBLISHED_TOPICS = (
    TOPIC_ACTION,
    TOPIC_JOINT_TRAJECTORY,
    TOPIC_JOINT_COMMAND,
    TOPIC_BIT_WIDTH,
    TOPIC_SENSITIVITY,
    TOPIC_FLOW_STEPS,
    TOPIC_TWIST,
    TOPIC_GRIPPER,
    TOPIC_MARKERS,
    TOPIC_DIAGNOSTICS,
)

DIAGNOSTIC_KEYS: tuple[str, ...] = (
    "activation_bits",
    "weight_bits",
    "precision_mode",
    "sensitivity",
    "motion_fineness",
    "angular_jerk",
    "switch_count",
    "latency_ms_p50",
    "latency_ms_p99",
    "dropped_frames",
    "input_age_ms",
    "model",
    "flow_steps",
)
DIAGNOSTIC_STATUS_NAME = "dyq_vla: policy"

PROXY_SOURCES = ("action", "joint_state", "disagreement", "gripper", "fused")
ACTION_INTERFACES = ("auto", "ee_delta", "joint_position")
DEVICES = ("auto", "cpu", "cuda")
QUANT_BACKENDS = (
    "auto",
    "avx512vnni",
    "avxvnni",
    "avx2_cols",
    "avx2",
    "neon_dotprod",
    "neon",
    "triton",
    "torch",
    "reference",
)
KEEP_FLOAT_DEFAULT = ("embed_action_time.*", "action_out_proj", "model.vlm.multi_modal_projector.linear")
"""PI0's small state/action projections and its vision projector, kept in float by default: on the embedded
model they cost little memory and 4-bit weights there cost the most success (docs/TRAINING_LOG.md)."""


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter: default, meaning, allowed range or choices, and reload rule."""

    name: str
    default: object
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False


PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("model_path", "", "Checkpoint directory; empty uses the embedded model.", read_only=True),
    ParameterSpec("device", "auto", "Torch device for inference.", choices=DEVICES, read_only=True),
    ParameterSpec(
        "tokenizer_path",
        "",
        "A local tokenizer directory (tokenizer.json) for checkpoints that name a hub tokenizer, such as older "
        "LeRobot pi0 policies naming PaliGemma's.",
        read_only=True,
    ),
    ParameterSpec(
        "camera_topics",
        [""],
        "NAME=TOPIC per checkpoint camera; [''] uses the defaults (scene: /camera/image_raw, wrist: "
        "/camera/wrist/image_raw, any other NAME: /camera/NAME/image_raw).",
        read_only=True,
    ),
    ParameterSpec(
        "action_interface",
        "auto",
        "What the actions command: auto (from the checkpoint: joint_position when it predicts joint positions, "
        "else ee_delta), ee_delta (end-effector deltas, twist, gripper) or joint_position (JointTrajectory and "
        "Float64MultiArray for ros2_control).",
        choices=ACTION_INTERFACES,
        read_only=True,
    ),
    ParameterSpec(
        "command_joint_names",
        [""],
        "Joint names of the joint-position commands; [''] uses the first action-dim names of the state's joints.",
        read_only=True,
    ),
    ParameterSpec(
        "joint_position_min",
        [-6.283185307179586],
        "Lower bound of each commanded joint position (one value applies to every joint).",
    ),
    ParameterSpec(
        "joint_position_max",
        [6.283185307179586],
        "Upper bound of each commanded joint position (one value applies to every joint).",
    ),
    ParameterSpec(
        "precision_mode",
        PrecisionMode.DYQ.value,
        "fp, static w4a16/w4a8/w4a4/w4a2, or dyq (dynamic); switchable live.",
        choices=tuple(m.value for m in PrecisionMode),
    ),
    ParameterSpec(
        "proxy_source",
        "action",
        "What S_t follows: the kinematic proxies of the commanded actions or of measured joint states, the "
        "policy's disagreement with its previous chunk, nearness to a gripper change, or fused (the largest of "
        "the action proxies, disagreement and gripper).",
        choices=PROXY_SOURCES,
    ),
    ParameterSpec("control_rate_hz", 10.0, "Rate at which actions are published.", 0.5, 1000.0, read_only=True),
    ParameterSpec(
        "actions_per_chunk",
        5,
        "Actions executed from each chunk before the next one takes over (the embedded model is trained and "
        "evaluated with 5 of its 10); 0 executes the whole chunk.",
        0,
        1000,
    ),
    ParameterSpec(
        "gripper_latch",
        True,
        "Let the gripper command (7th action value) switch at most once per chunk, so that one chunk "
        "cannot close the gripper and reopen it a step later.",
    ),
    ParameterSpec(
        "calibrated_thresholds",
        True,
        "Start from the model's calibrated theta_* and its hardware-aware widths (dyq_calibration.json); "
        "false: the theta_* given, over all four widths. Later theta_* changes still apply.",
        read_only=True,
    ),
    ParameterSpec("theta_fp", 0.5, "Sensitivity above which activations run at 16 bits.", 0.0, 1.0),
    ParameterSpec("theta_2_4", 0.15, "Sensitivity above which 4-bit rather than 2-bit activations are used.", 0.0, 1.0),
    ParameterSpec("theta_4_8", 0.3, "Sensitivity above which 8-bit rather than 4-bit activations are used.", 0.0, 1.0),
    ParameterSpec("sensitivity_lambda", 0.5, "Weight of motion fineness against angular jerk.", 0.0, 1.0),
    ParameterSpec(
        "flow_steps",
        0,
        "Flow-matching integration steps of every inference (the full count); 0 uses the checkpoint's.",
        0,
        1000,
    ),
    ParameterSpec(
        "flow_steps_reduced",
        0,
        "Flow-matching steps of inferences while S_t <= theta_flow (downgraded after downgrade_steps, like the "
        "bit width); 0 always runs the checkpoint's full count.",
        0,
        1000,
    ),
    ParameterSpec(
        "theta_flow", 0.5, "Sensitivity above which inferences run the checkpoint's full flow steps.", 0.0, 1.0
    ),
    ParameterSpec("downgrade_steps", 5, "Consecutive steps a lower precision must be asked for.", 1, 1000),
    ParameterSpec("motion_window", 10, "Steps averaged for motion fineness.", 1, 1000, read_only=True),
    ParameterSpec("jerk_window", 5, "Steps averaged for angular jerk.", 1, 1000, read_only=True),
    ParameterSpec("p95_history", 200, "Samples kept for the running P95 normalisers.", 10, 100000, read_only=True),
    ParameterSpec(
        "joint_names",
        [""],
        "Joints forming the robot state, in order; [''] uses the checkpoint's names (else message order).",
    ),
    ParameterSpec("instruction", "", "Instruction used until one arrives on the instruction topic."),
    ParameterSpec("stale_timeout_s", 1.0, "Inputs older than this stop commanding.", 0.01, 60.0),
    ParameterSpec("latency_budget_ms", 200.0, "Inference latency above which diagnostics warn.", 1.0, 60000.0),
    ParameterSpec("diagnostics_period_s", 1.0, "Period of the diagnostics status.", 0.05, 60.0, read_only=True),
    ParameterSpec(
        "noise_seed", 0, "Seed of the flow-matching noise; inference i of an episode uses seed+i.", 0, 2**31 - 1
    ),
    ParameterSpec("twist_frame_id", "tool0", "Frame of the published TwistStamped."),
    ParameterSpec("marker_frame_id", "base_link", "Frame of the rviz text marker."),
    ParameterSpec("autostart", True, "Configure and activate on start (plain ros2 run).", read_only=True),
    ParameterSpec(
        "action_min",
        [-0.05, -0.05, -0.05, -0.25, -0.25, -0.25, -1.0],
        "Per-dimension lower bound; every action is clipped to [action_min, action_max].",
    ),
    ParameterSpec("action_max", [0.05, 0.05, 0.05, 0.25, 0.25, 0.25, 1.0], "Per-dimension upper bound of actions."),
    ParameterSpec("dry_run", False, "Compute and report everything but publish no action, twist or gripper."),
    ParameterSpec("max_image_pixels", 16_777_216, "Images with more pixels than this are rejected.", 1, 2**31 - 1),
    ParameterSpec(
        "max_future_stamp_s", 0.5, "Inputs stamped further ahead of the node's clock are rejected.", 0.0, 3600.0
    ),
    ParameterSpec(
        "inference_threads",
        0,
        "Torch threads for inference; 0 uses all cores but one, leaving one for the control loop.",
        0,
        1024,
        read_only=True,
    ),
    ParameterSpec(
        "quant_backend",
        "auto",
        "W4AX kernels: auto (triton on CUDA where installed, else the best C++ path for the CPU, else torch); "
        "the C++ paths avx512vnni, avxvnni, avx2_cols (x86-64; avx2, on the rows layout, slower, only when "
        "named) and neon_dotprod, neon (aarch64); triton (CUDA; on a CPU only under TRITON_INTERPRET=1); "
        "torch; or reference (the oracle).",
        choices=QUANT_BACKENDS,
        read_only=True,
    ),
    ParameterSpec(
        "keep_float_modules",
        list(KEEP_FLOAT_DEFAULT),
        "Glob patterns of linear layers kept in float; the default keeps PI0's small action/state "
        "projections and the vision-to-language projector; [''] quantizes every one.",
        read_only=True,
    ),
    ParameterSpec(
        "allow_pickle_weights",
        False,
        "Also load pickle (.bin) weights, which can run code when loaded.",
        read_only=True,
    ),
)

PARAMETER_DEFAULTS: dict[str, object] = {p.name: p.default for p in PARAMETERS}

# The simulated robot (sim_robot_node).
SIM_NODE_NAME = "sim_robot_node"
SIM_NODE_EXECUTABLE = "sim_robot_node"
TOPIC_EPISODE_RESULT = "/sim/episode_result"
"""std_msgs/String holding one JSON object per finished episode."""

SIM_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("episodes", 0, "Episodes to run; 0 runs until shut down.", 0, 1_000_000, read_only=True),
    ParameterSpec(
        "first_seed",
        1_000_000,
        "Seed of the first episode (held-out seeds start at 1000000).",
        0,
        2**31 - 1,
        read_only=True,
    ),
    ParameterSpec("max_steps", 200, "Actions per episode before it times out.", 1, 100_000, read_only=True),
    ParameterSpec("episode_timeout_s", 120.0, "Wall-clock limit of an episode.", 1.0, 36_000.0, read_only=True),
    ParameterSpec("camera_rate_hz", 15.0, "Camera frame rate.", 0.5, 200.0, read_only=True),
    ParameterSpec("joint_rate_hz", 50.0, "Joint state rate.", 0.5, 2000.0, read_only=True),
    ParameterSpec("image_width", 128, "Camera image width.", 16, 4096, read_only=True),
    ParameterSpec("image_height", 128, "Camera image height.", 16, 4096, read_only=True),
    ParameterSpec("wrist_camera", True, "Also publish the wrist camera (96 x 96) at the camera rate.", read_only=True),
    ParameterSpec("reset_pause_s", 0.5, "Pause between episodes.", 0.0, 60.0, read_only=True),
    ParameterSpec(
        "min_instruction_subscribers",
        1,
        "Subscribers the instruction topic needs (a policy, plus observers such as the demo) before an episode starts.",
        1,
        100,
        read_only=True,
    ),
    ParameterSpec("exit_when_done", False, "Shut the node down after the last episode.", read_only=True),
)
SIM_PARAMETER_DEFAULTS: dict[str, object] = {p.name: p.default for p in SIM_PARAMETERS}
