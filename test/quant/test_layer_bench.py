"""The per-layer CUDA bench's command line (the timings themselves need a GPU: scripts/cuda_check.sh)."""

import argparse

import pytest
import torch

from dyq_vla_ros.quant.layer_bench import main, parse_shapes


def test_shapes_parse_and_bad_ones_are_named():
    assert parse_shapes("304x2048x16384, 51X1024x4096") == [(304, 2048, 16384), (51, 1024, 4096)]
    with pytest.raises(argparse.ArgumentTypeError, match="TOKENSxINxOUT"):
        parse_shapes("304x2048")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_it_exits_with_a_message(capsys):
    assert main(["--shapes", "16x64x64"]) == 2
    assert "CUDA" in capsys.readouterr().err
