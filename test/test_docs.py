"""The README documents every parameter, topic and diagnostic key the contract defines."""

from pathlib import Path

import pytest

from dyq_vla_ros import contract

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", [p.name for p in contract.PARAMETERS])
def test_every_parameter_documented(name):
    assert f"`{name}`" in README


@pytest.mark.parametrize("topic", contract.SUBSCRIBED_TOPICS + contract.PUBLISHED_TOPICS)
def test_every_topic_documented(topic):
    assert f"`{topic}`" in README


@pytest.mark.parametrize("key", contract.DIAGNOSTIC_KEYS)
def test_every_diagnostic_key_documented(key):
    assert f"`{key}`" in README


def test_the_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


@pytest.mark.parametrize("name", [p.name for p in contract.SIM_PARAMETERS])
def test_every_sim_parameter_documented(name):
    assert f"`{name}`" in README


def test_episode_result_topic_documented():
    assert f"`{contract.TOPIC_EPISODE_RESULT}`" in README
