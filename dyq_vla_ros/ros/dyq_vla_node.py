"""Entry point of `ros2 run dyq_vla_ros dyq_vla_node`."""

from __future__ import annotations

import os
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import TransitionCallbackReturn

from dyq_vla_ros.ros.policy_node import PolicyNode


def autostart(node: PolicyNode) -> None:
    """Configure, then activate, the node as a launch-file event chain would."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("autostart: configure failed; staying unconfigured (see diagnostics)")
        return
    node.trigger_activate()


def main(args: list[str] | None = None) -> None:
    """Run the policy node until shutdown."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The inference worker runs Python-heavy model code; a short GIL switch interval keeps the
    # executor's control timer and input callbacks responsive while it does.
    sys.setswitchinterval(0.0005)
    rclpy.init(args=args)
    node = PolicyNode()
    try:
        if node.get_parameter("autostart").value:
            autostart(node)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main(sys.argv)
