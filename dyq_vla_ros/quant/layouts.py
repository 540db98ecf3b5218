"""Weight layouts the CPU kernel paths read, repacked once at load from quantize_int4's storage.

`rows` is quantize_int4's own layout. `cols` (the VNNI and NEON paths, csrc/w4ax_core.h) regroups the
same bytes into tiles of R output rows: per tile and group, G/8 blocks of [row][4 bytes], block j
holding bytes 4j..4j+3 of each row's group (values 4j+b in the low nibbles, G/2+4j+b in the high
ones), the nibbles flipped from q + 8 to two's complement (q & 15); the scales [tile][group][row].
Still 4 bits a value: the repacked tensor replaces the row-major one. Rows beyond the last full tile
are zero weights.
"""

from __future__ import annotations

import torch

TWOS_COMPLEMENT = 0x88
"""XOR that turns a byte of two (q + 8) nibbles into two (q & 15) nibbles, and back."""


def cols_rows(out_features: int, tile_rows: int) -> int:
    """Output rows the cols layout stores: out_features rounded up to whole tiles."""
    return -(-out_features // tile_rows) * tile_rows


def to_cols(packed: torch.Tensor, scales: torch.Tensor, tile_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """quantize_int4's (packed [n, padded/2], scales [n, groups]) in the cols layout of `tile_rows`-row tiles.

    The results keep 2-D shapes, [rows, padded/2] and [rows, groups] with rows = cols_rows(n, tile_rows),
    in tile order in memory.
    """
    n, half_width = packed.shape
    groups = scales.shape[1]
    group_bytes = half_width // groups
    rows = cols_rows(n, tile_rows)
    if rows != n:  # zero weights (code 8 in both nibbles), unit scales
        packed = torch.cat((packed, packed.new_full((rows - n, half_width), TWOS_COMPLEMENT)))
        scales = torch.cat((scales, scales.new_ones((rows - n, groups))))
    tiles = rows // tile_rows
    blocks = packed.reshape(tiles, tile_rows, groups, group_bytes // 4, 4).permute(0, 2, 3, 1, 4)
    cols = (blocks ^ TWOS_COMPLEMENT).contiguous().reshape(rows, half_width)
    tile_scales = scales.reshape(tiles, tile_rows, groups).permute(0, 2, 1).contiguous().reshape(rows, groups)
    return cols, tile_scales


def from_cols(
    cols: torch.Tensor, tile_scales: torch.Tensor, tile_rows: int, out_features: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of to_cols: quantize_int4's (packed [n, padded/2], scales [n, groups])."""
    rows, half_width = cols.shape
    groups = tile_scales.shape[1]
    group_bytes = half_width // groups
    tiles = rows // tile_rows
    blocks = (cols ^ TWOS_COMPLEMENT).reshape(tiles, groups, group_bytes // 4, tile_rows, 4).permute(0, 3, 1, 2, 4)
    packed = blocks.contiguous().reshape(rows, half_width)[:out_features]
    scales = tile_scales.reshape(tiles, groups, tile_rows).permute(0, 2, 1).contiguous().reshape(rows, groups)
    return packed, scales[:out_features].contiguous()
