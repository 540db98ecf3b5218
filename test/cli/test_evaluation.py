"""`dyq-vla study` run as the command (eval, calibrate and ablate: test/evaluation/)."""

import json

from dyq_vla_ros.cli import main
from dyq_vla_ros.evaluation.study import STUDY_SEED_OFFSET
from dyq_vla_ros.sim.seeds import calibration_seeds


def test_study_writes_its_report_and_plot(tmp_path, capsys):
    out, png = tmp_path / "study.json", tmp_path / "study.png"
    argv = ["study", "--episodes", "1", "--max-steps", "12", "--bits", "2", "--draws", "2", "--no-successful-only"]
    assert main([*argv, "--json", str(out), "--plot", str(png)]) == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report  # printed and written alike
    seed = calibration_seeds(1, STUDY_SEED_OFFSET)[0]  # study seeds: calibration seeds, apart from calibrate's
    assert report["episodes"] == 1 and report["seeds"] == [seed]
    assert report["perturb_bits"] == 2 and report["draws"] == 2
    (record,) = report["records"]
    # 12 steps, a new chunk every 5 (the node's actions_per_chunk): inferences at ticks 0, 5 and 10, each
    # perturbed (stride 1) in 2 draws
    assert record["seed"] == seed and [s["tick"] for s in record["steps"]] == [0, 5, 10]
    assert all(len(s["errors"]) == len(s["deviations_mm"]) == 2 for s in record["steps"])
    assert report["perturbations"] == 6
    assert report["plot"] == {"file": str(png), "seed": seed} and png.stat().st_size > 5000
