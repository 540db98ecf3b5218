"""ROS 2 layer: the policy node, message conversions, QoS and diagnostics (the only rclpy users)."""
