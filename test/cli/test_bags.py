"""`dyq-vla replay` and `dyq-vla plot` run as the command: their JSON, the bags and images they write."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_factories import FIXTURE, ros2_bag_record_copy

from dyq_vla_ros import contract
from dyq_vla_ros.bags import bag_topics, read_messages
from dyq_vla_ros.cli import main


def run_cli(capsys, *argv: str) -> dict:
    """Run `dyq-vla ARGV` in-process; its printed JSON."""
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _actions(bag: Path) -> list[list[float]]:
    return [list(m.data) for _, _, m in read_messages(bag, [contract.TOPIC_ACTION])]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[dict, Path]:
    """The fixture replayed by `dyq-vla replay` with default options, and its report."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("replay") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["replay", str(FIXTURE), str(out)]) == 0
    return json.loads(printed.getvalue()), out


def test_replay_reports_what_it_wrote(replayed):
    report, out = replayed
    images = [t for t, _, _ in read_messages(FIXTURE, [contract.TOPIC_IMAGE])]
    assert report["out_bag"] == str(out) and report["ticks"] == len(images) == 74  # one tick per 10 Hz frame
    assert report["actions"] == report["ticks"] - 1 == len(_actions(out))  # the first tick waits for a chunk
    bits = [m.data for _, _, m in read_messages(out, [contract.TOPIC_BIT_WIDTH])]
    assert report["bits_share"] == {str(b): bits.count(b) / len(bits) for b in (2, 4, 8, 16)}
    assert set(report["bits_share"]) == {"2", "4", "8", "16"} and report["bits_share"]["2"] == 0.0  # shipped widths
    assert report["cameras"] == {"scene": contract.TOPIC_IMAGE, "wrist": contract.TOPIC_WRIST_IMAGE}
    # actions_per_chunk 5: one inference per five ticks
    assert report["inferences"] == -(-report["ticks"] // 5)


def test_replay_options_set_mode_and_rate(tmp_path, capsys, replayed):
    report, _ = replayed
    static = run_cli(capsys, "replay", str(FIXTURE), str(tmp_path / "w4a4"), "--precision-mode", "w4a4")
    assert static["bits_share"] == {"2": 0.0, "4": 1.0, "8": 0.0, "16": 0.0}
    slow = run_cli(capsys, "replay", str(FIXTURE), str(tmp_path / "slow"), "--rate", "5")
    assert slow["ticks"] == report["ticks"] // 2  # half the control rate over the same 7.3 s
    run_cli(capsys, "replay", str(FIXTURE), str(tmp_path / "told"), "--instruction", "put the red peg away")
    assert _actions(tmp_path / "told") != _actions(Path(report["out_bag"]))  # another task, other actions


@pytest.mark.parametrize("distro", ["jazzy", "humble"])
def test_replay_reads_a_bag_as_ros2_bag_record_writes_it(tmp_path, capsys, replayed, distro):
    _, default_out = replayed
    bag = ros2_bag_record_copy(tmp_path / "rosbag2_2025_06_01-12_00_00", distro)
    report = run_cli(capsys, "replay", str(bag), str(tmp_path / "out"))
    assert report["ticks"] == 74 and _actions(tmp_path / "out") == _actions(default_out)


def test_replay_of_a_broken_bag_is_a_usage_error_naming_it(tmp_path, capsys):
    import shutil

    bag = tmp_path / "truncated"
    shutil.copytree(FIXTURE, bag)
    mcap = bag / f"{FIXTURE.name}.mcap"
    mcap.write_bytes(mcap.read_bytes()[:1000])
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(bag), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"dyq-vla replay: error: cannot open bag {bag}" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_plot_draws_the_replayed_bag(tmp_path, capsys, replayed):
    _, out = replayed
    assert main(["plot", str(out), "--out", str(tmp_path / "plain.png")]) == 0
    assert main(["plot", str(out), "--out", str(tmp_path / "theta.png"), "--theta-fp", "0.5"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "plain.png"), str(tmp_path / "theta.png")]
    plain, theta = (cv2.imread(str(tmp_path / f"{name}.png")) for name in ("plain", "theta"))
    assert plain.shape == theta.shape == (715, 1100, 3)  # 10 x 6.5 inches at 110 dpi
    assert (np.abs(plain.astype(int) - theta).sum(axis=2) > 0).mean() > 0.001  # the threshold line and legend
    assert contract.TOPIC_SENSITIVITY in bag_topics(out)
    with pytest.raises(SystemExit) as exc:
        main(["plot", str(FIXTURE), "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2 and "replay it first" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
