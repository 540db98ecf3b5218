# Set-up, tests and demo on a machine with nothing but Python >= 3.10.
# On a ROS 2 machine use colcon instead (see README).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; on other platforms set TORCH to the requirement that fits (e.g. a CUDA build).
TORCH ?= torch==2.13.0
ROS_WHEELS := ros-rclpy ros-std-msgs ros-sensor-msgs ros-diagnostic-msgs ros-geometry-msgs \
	ros-visualization-msgs ros-trajectory-msgs ros-rosgraph-msgs ros-rmw-fastrtps-cpp

# Keep DDS discovery on this machine unless the caller says otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export HF_HUB_OFFLINE ?= 1

.PHONY: setup test demo lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.py setup.cfg Makefile $(wildcard dyq_vla_ros/quant/csrc/*)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, so that nothing later pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet $(ROS_WHEELS)
	# no build isolation: the C++ kernels compile against the torch installed above
	$(PY) -m pip install --quiet setuptools wheel
	$(PY) -m pip install --quiet --no-build-isolation -e .
	touch $@

# The test extra (pytest, ruff, hypothesis, triton for the kernel tests under its CPU interpreter), on top
# of the runtime install; the torch installed above is held as a constraint, so pip fails rather than replace it.
$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip freeze --all | grep -i '^torch==' > $(VENV)/torch-constraint.txt
	$(PY) -m pip install --quiet --no-build-isolation -c $(VENV)/torch-constraint.txt -e '.[test]'
	touch $@

test: $(VENV)/.test-installed
	$(PY) -m pytest

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: setup
	$(VENV)/bin/dyq-vla demo

clean:
	rm -rf $(VENV) build install log *.egg-info
