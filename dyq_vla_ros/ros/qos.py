"""QoS profiles of the node's topics."""

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR_QOS = qos_profile_sensor_data
"""Camera and joint states: best effort, keep last 5 (matches drivers and accepts reliable ones)."""

COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""Actions, bit width, sensitivity, twist, markers: reliable, volatile."""

INSTRUCTION_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""Instructions: reliable; volatile so that both latched and plain publishers are compatible."""
