"""Fixtures for real-DDS tests: an rclpy context, node processes, a topic recorder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import zlib
from collections import defaultdict
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float32, Float32MultiArray, Float64MultiArray, UInt8
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from dyq_vla_ros import contract
from dyq_vla_ros.ros.harness.processes import start_module
from dyq_vla_ros.ros.harness.synthetic_source import SyntheticSource
from dyq_vla_ros.ros.qos import COMMAND_QOS

DOMAINS = 200
"""Domain ids tests use: 1..200 (Fast DDS accepts up to 232)."""
STARTUP_S = 90.0
"""Time allowed for a node process to import torch and transformers on a busy 2-core machine."""


def module_domain(module: str) -> int:
    """A DDS domain for one test module of this run: apart from other modules, other runs and the caller's own."""
    caller = os.environ.get("ROS_DOMAIN_ID")
    digest = zlib.crc32(f"{os.getpid()}:{module}".encode())
    domain = 1 + digest % DOMAINS
    if caller is not None and caller.isdigit() and int(caller) == domain:
        domain = 1 + (domain % DOMAINS)
    return domain


class NodeProcess:
    """A node started as its own process, as `ros2 run` would, in the test module's domain; it dies with the run."""

    def __init__(
        self,
        params: dict[str, object],
        log_path: Path,
        module: str = "dyq_vla_ros.ros.dyq_vla_node",
        *,
        domain: int,
    ) -> None:
        args = ["--ros-args"]
        for key, value in params.items():
            args += ["-p", f"{key}:={value}"]
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "ROS_DOMAIN_ID": str(domain)}
        self.proc = start_module(module, args, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        """Everything the node printed so far."""
        return self.log_path.read_text()

    def stop(self) -> int:
        """SIGINT, then SIGKILL if it does not exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class Recorder(Node):
    """Records every output topic of the node with the receipt time."""

    def __init__(self) -> None:
        super().__init__("dyq_vla_test_recorder")
        self.msgs: dict[str, list] = defaultdict(list)
        topics = (
            (contract.TOPIC_ACTION, Float32MultiArray),
            (contract.TOPIC_BIT_WIDTH, UInt8),
            (contract.TOPIC_SENSITIVITY, Float32),
            (contract.TOPIC_FLOW_STEPS, UInt8),
            (contract.TOPIC_TWIST, TwistStamped),
            (contract.TOPIC_GRIPPER, Float32),
            (contract.TOPIC_MARKERS, MarkerArray),
            (contract.TOPIC_JOINT_TRAJECTORY, JointTrajectory),
            (contract.TOPIC_JOINT_COMMAND, Float64MultiArray),
        )
        for topic, msg_type in topics:
            self.create_subscription(msg_type, topic, self._store(topic), COMMAND_QOS)
        self.create_subscription(
            DiagnosticArray, contract.TOPIC_DIAGNOSTICS, self._store(contract.TOPIC_DIAGNOSTICS), 10
        )

    def _store(self, topic: str):
        def callback(msg) -> None:
            self.msgs[topic].append((time.monotonic(), msg))

        return callback

    def values(self, topic: str) -> list:
        """The messages received on topic, in order."""
        return [m for _, m in self.msgs[topic]]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.msgs.clear()


@pytest.fixture(scope="module", autouse=True)
def domain(request) -> int:
    """This module's DDS domain (also in ROS_DOMAIN_ID while its tests run, for the processes they start)."""
    value = module_domain(request.module.__name__)
    previous = os.environ.get("ROS_DOMAIN_ID")
    os.environ["ROS_DOMAIN_ID"] = str(value)
    yield value
    if previous is None:
        os.environ.pop("ROS_DOMAIN_ID", None)
    else:
        os.environ["ROS_DOMAIN_ID"] = previous


@pytest.fixture(scope="module")
def ros(domain):
    rclpy.init(domain_id=domain)
    yield
    rclpy.try_shutdown()


@pytest.fixture
def executor(ros):
    ex = SingleThreadedExecutor()
    yield ex
    for node in list(ex.get_nodes()):
        ex.remove_node(node)
        node.destroy_node()
    ex.shutdown()


@pytest.fixture
def node_processes(tmp_path, request, domain):
    procs: list[NodeProcess] = []

    def start(module: str, params: dict[str, object]) -> NodeProcess:
        proc = NodeProcess(params, tmp_path / f"node{len(procs)}.log", module, domain=domain)
        procs.append(proc)
        return proc

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for proc in procs:
        proc.stop()
        if failed:
            print(f"---- {proc.log_path.name} ----\n{proc.log()[-4000:]}")


@pytest.fixture
def start_node(node_processes):
    """Start dyq_vla_node with parameters."""
    return lambda **params: node_processes("dyq_vla_ros.ros.dyq_vla_node", params)


@pytest.fixture
def start_sim(node_processes):
    """Start sim_robot_node with parameters."""
    return lambda **params: node_processes("dyq_vla_ros.ros.sim_robot_node", params)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class Spinner:
    """Spins an executor until a condition holds or for a fixed time."""

    def __init__(self, executor: SingleThreadedExecutor) -> None:
        self.executor = executor

    def until(self, predicate, timeout: float, what: str = "condition") -> None:
        """Spin until predicate() is true, failing the test after timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if predicate():
                return
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def for_(self, seconds: float) -> None:
        """Spin for a fixed time."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)


@pytest.fixture
def start_source(executor):
    """Start a SyntheticSource robot with these settings in the test's executor."""

    def start(**kwargs) -> SyntheticSource:
        src = SyntheticSource(**kwargs)
        executor.add_node(src)
        return src

    return start


@pytest.fixture
def spin(executor) -> Spinner:
    return Spinner(executor)


@pytest.fixture
def recorder(executor) -> Recorder:
    rec = Recorder()
    executor.add_node(rec)
    return rec


def parameter_value(value: object) -> ParameterValue:
    """A ParameterValue of the type the Python value has (bool, int, float, str or a list of one of these)."""
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    if isinstance(value, str):
        return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    items = list(value)  # type: ignore[call-overload]
    if items and all(isinstance(v, str) for v in items):
        return ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=items)
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=[float(v) for v in items])


class NodeApi:
    """Talks to the dyq_vla_node under test: services, parameters and its recorded diagnostics."""

    startup_s = STARTUP_S

    def __init__(self, spin: Spinner, recorder: Recorder, node_name: str = contract.NODE_NAME) -> None:
        self.spin, self.recorder, self.name = spin, recorder, f"/{node_name}"

    def statuses(self) -> list:
        """The policy's diagnostic statuses received so far."""
        return [
            s
            for m in self.recorder.values(contract.TOPIC_DIAGNOSTICS)
            for s in m.status
            if s.name == contract.DIAGNOSTIC_STATUS_NAME
        ]

    @staticmethod
    def values(status) -> dict[str, str]:
        """Key -> value of one diagnostic status."""
        return {kv.key: kv.value for kv in status.values}

    def latest(self) -> dict[str, str]:
        """Values of the newest policy status ({} before the first)."""
        statuses = self.statuses()
        return self.values(statuses[-1]) if statuses else {}

    def wait_for_actions(self, count: int = 3, timeout: float = STARTUP_S) -> None:
        """Spin until the node has published count actions."""
        self.spin.until(lambda: len(self.recorder.values(contract.TOPIC_ACTION)) >= count, timeout, "actions")

    def call(self, srv_type, service: str, request, timeout: float = 30.0):
        """Call one of the node's services and return the response."""
        client = self.recorder.create_client(srv_type, f"{self.name}/{service}")
        self.spin.until(client.service_is_ready, timeout, f"service {service}")
        future = client.call_async(request)
        self.spin.until(future.done, timeout, f"reply from {service}")
        self.recorder.destroy_client(client)
        return future.result()

    def set_param(self, name: str, value: object):
        """Set one parameter; returns the SetParametersResult."""
        return self.set_params(**{name: value})[0]

    def set_params(self, **values: object) -> list:
        """Set parameters in one request (each validated on its own); the SetParametersResults."""
        params = [Parameter(name=name, value=parameter_value(value)) for name, value in values.items()]
        return self.call(SetParameters, "set_parameters", SetParameters.Request(parameters=params)).results

    def get_params(self, *names: str) -> list:
        """Current values of parameters (double, integer, bool or string)."""
        reply = self.call(GetParameters, "get_parameters", GetParameters.Request(names=list(names)))
        fields = {
            ParameterType.PARAMETER_DOUBLE: "double_value",
            ParameterType.PARAMETER_INTEGER: "integer_value",
            ParameterType.PARAMETER_BOOL: "bool_value",
            ParameterType.PARAMETER_STRING: "string_value",
            ParameterType.PARAMETER_DOUBLE_ARRAY: "double_array_value",
            ParameterType.PARAMETER_STRING_ARRAY: "string_array_value",
        }
        return [getattr(v, fields[v.type]) for v in reply.values]

    def transition(self, transition_id: int) -> bool:
        """Trigger a lifecycle transition; whether it succeeded."""
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(ChangeState, "change_state", request).success

    def state(self) -> int:
        """Current lifecycle state id."""
        return self.call(GetState, "get_state", GetState.Request()).current_state.id


@pytest.fixture
def node_api(spin, recorder) -> NodeApi:
    return NodeApi(spin, recorder)
