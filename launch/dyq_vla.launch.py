"""Launch dyq_vla_node (a lifecycle node that configures and activates itself) with its parameters."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = (
    ("model_path", "", "Checkpoint directory; empty uses the embedded model."),
    ("precision_mode", "dyq", "fp, w4a16, w4a8, w4a4, w4a2 or dyq."),
    ("device", "auto", "auto, cpu or cuda."),
    ("proxy_source", "action", "action or joint_state."),
    ("control_rate_hz", "10.0", "Rate at which actions are published."),
    ("namespace", "", "Namespace of the node."),
    ("autostart", "true", "Configure and activate the node on start."),
    ("image_topic", "/camera/image_raw", "Camera image input."),
    ("joint_states_topic", "/joint_states", "Joint state input."),
    ("instruction_topic", "/dyq_vla/instruction", "Language instruction input."),
    ("action_topic", "/dyq_vla/action", "7-D action output."),
    ("twist_topic", "/dyq_vla/twist", "TwistStamped output."),
)


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the lifecycle node."""
    params_file = DeclareLaunchArgument(
        "params_file",
        default_value=PathJoinSubstitution([FindPackageShare("dyq_vla_ros"), "config", "dyq_vla.yaml"]),
        description="Node parameter file.",
    )
    args = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
    node = LifecycleNode(
        package="dyq_vla_ros",
        executable="dyq_vla_node",
        name="dyq_vla_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "model_path": ParameterValue(LaunchConfiguration("model_path"), value_type=str),
                "precision_mode": ParameterValue(LaunchConfiguration("precision_mode"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "proxy_source": ParameterValue(LaunchConfiguration("proxy_source"), value_type=str),
                "control_rate_hz": ParameterValue(LaunchConfiguration("control_rate_hz"), value_type=float),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
            },
        ],
        remappings=[
            ("/camera/image_raw", LaunchConfiguration("image_topic")),
            ("/joint_states", LaunchConfiguration("joint_states_topic")),
            ("/dyq_vla/instruction", LaunchConfiguration("instruction_topic")),
            ("/dyq_vla/action", LaunchConfiguration("action_topic")),
            ("/dyq_vla/twist", LaunchConfiguration("twist_topic")),
        ],
    )
    return LaunchDescription([params_file, *args, node])
