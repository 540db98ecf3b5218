"""Launch the simulated robot and the policy node (included from dyq_vla.launch.py), optionally recording a bag."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("episodes", "10", "Episodes to run; 0 runs until shut down."),
    ("first_seed", "1000000", "Seed of the first episode (held-out seeds start at 1000000)."),
    ("max_steps", "200", "Actions per episode before it times out."),
    ("precision_mode", "dyq", "fp, w4a16, w4a8, w4a4, w4a2 or dyq."),
    ("model_path", "", "Checkpoint directory; empty uses the embedded model."),
    ("device", "auto", "auto, cpu or cuda."),
    ("control_rate_hz", "20.0", "Policy control rate (one simulator step per action)."),
    ("bag", "", "If set, record the run with ros2 bag (MCAP) to this directory."),
)
RECORDED_TOPICS = (
    "/camera/image_raw",
    "/camera/wrist/image_raw",
    "/joint_states",
    "/dyq_vla/instruction",
    "/dyq_vla/action",
    "/dyq_vla/bit_width",
    "/dyq_vla/sensitivity",
    "/diagnostics",
    "/sim/episode_result",
)


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, the simulator node, the included policy launch and the recorder."""
    args = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
    sim = Node(
        package="dyq_vla_ros",
        executable="sim_robot_node",
        name="sim_robot_node",
        output="screen",
        parameters=[
            {
                "episodes": ParameterValue(LaunchConfiguration("episodes"), value_type=int),
                "first_seed": ParameterValue(LaunchConfiguration("first_seed"), value_type=int),
                "max_steps": ParameterValue(LaunchConfiguration("max_steps"), value_type=int),
            }
        ],
    )
    policy = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("dyq_vla_ros"), "launch", "dyq_vla.launch.py"])
        ),
        launch_arguments={
            "precision_mode": LaunchConfiguration("precision_mode"),
            "model_path": LaunchConfiguration("model_path"),
            "device": LaunchConfiguration("device"),
            "control_rate_hz": LaunchConfiguration("control_rate_hz"),
        }.items(),
    )
    record = ExecuteProcess(
        cmd=["ros2", "bag", "record", "-s", "mcap", "-o", LaunchConfiguration("bag"), *RECORDED_TOPICS],
        output="screen",
        condition=IfCondition(PythonExpression(["'", LaunchConfiguration("bag"), "' != ''"])),
    )
    return LaunchDescription([*args, sim, policy, record])
