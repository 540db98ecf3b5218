"""`dyq-vla gen-data`, `train` and `init-model` run as the command: their JSON and what they write."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from dyq_vla_ros.cli import main
from dyq_vla_ros.policy import Pi0Policy


def run_cli(capsys, *argv: str) -> dict:
    """Run `dyq-vla ARGV` in-process; its printed JSON."""
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two clean-expert episodes (96 px, the model's size), made by `dyq-vla gen-data`; (directory, its report)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("data")
    printed = io.StringIO()
    argv = ["gen-data", "--out", str(out), "--episodes", "2", "--noise-std", "0"]
    with contextlib.redirect_stdout(printed):
        assert main([*argv, "--shard-episodes", "1"]) == 0
    return out, json.loads(printed.getvalue()), argv


def test_gen_data_reports_the_dataset_it_wrote(dataset, capsys):
    from dyq_vla_ros.training import load_dataset

    out, report, argv = dataset
    data = load_dataset(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert report == {"out": str(out), "episodes": 2, "frames": len(data), "expert_success": 1.0}
    assert len(manifest["shards"]) == 2 and sum(s["frames"] for s in manifest["shards"]) == len(data)
    assert [e["seed"] for e in manifest["episodes"]] == [0, 1] and data.image.shape[1:] == (96, 96, 3)
    assert manifest["config"]["noise_std"] == 0.0 and manifest["config"]["episodes"] == 2  # the options given
    # the same command again finds everything done; other settings on the same directory are refused
    assert run_cli(capsys, *argv, "--shard-episodes", "1") == report
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--shard-episodes", "1", "--start-seed", "5"])
    assert exc.value.code == 2 and "holds a dataset made with other settings" in capsys.readouterr().err


def test_train_writes_a_checkpoint_its_report_describes(dataset, tmp_path, capsys):
    data, _, _ = dataset
    out = tmp_path / "ckpt"
    argv = ["train", "--data", data, "--out", out, "--steps", "3", "--batch-size", "2", "--threads", "1"]
    argv += ["--warmup-steps", "1", "--augment-shift", "0", "--aux-weight", "0", "--time-limit-min", "5"]
    report = run_cli(capsys, *argv)
    log = json.loads((out / "training_log.json").read_text())
    assert report["out"] == str(out) and report["steps"] == log["steps"] == 3
    assert report["final_loss"] == pytest.approx(log["final_loss"]) and np.isfinite(report["final_loss"])
    config = log["train_config"]
    assert config["time_limit_s"] == 300.0 and config["shift_px"] == 0 and config["aux_weight"] == 0.0
    assert config["batch_size"] == 2 and config["vision_steps"] == 0 and log["episodes"] == 2
    policy = Pi0Policy(out)
    assert policy.processor.config.action_space == "tool_target" and policy.chunk_size == 10
    # the same command resumes the finished run: no more steps, the same weights
    weights = load_file(out / "model.safetensors")
    again = run_cli(capsys, *argv)
    assert again["steps"] == 3 and again["final_loss"] == report["final_loss"]
    assert all(np.array_equal(w, load_file(out / "model.safetensors")[k]) for k, w in weights.items())


def test_init_model_writes_a_seeded_random_checkpoint(tmp_path, capsys):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert main(["init-model", "--out", str(tmp_path / name), "--seed", str(seed)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote a randomly initialised tiny PI0 checkpoint to {tmp_path / 'a'}"
    a, b, c = (load_file(tmp_path / n / "model.safetensors") for n in "abc")
    assert a.keys() == b.keys() == c.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)  # the seed decides the weights
    assert not all(np.array_equal(a[k], c[k]) for k in a)
    policy = Pi0Policy(tmp_path / "a")
    assert policy.processor.cameras == ("scene",) and (tmp_path / "a" / "dyq_processor.json").is_file()
