"""The Triton W4AX kernel bodies, undecorated: triton_w4ax decorates them once per mode (GPU or interpreter).

Weights are the packed int4 copy of quant.weights: within each group of G values of a row, byte j holds
value j (low nibble) and value j + G/2 (high nibble), as q + 8. A kernel takes one group per loop step as
two half-group tiles [G/2, BLOCK_N] (the low and the high nibbles), each against its half of the inputs,
so the packing needs no interleaving in registers. Any weight and scale strides work; the load-time
repack makes both N-contiguous (K-major), so the tiles load coalesced along the output rows.
"""

# ruff: noqa: N803  (Triton names shape arguments and constexprs in capitals)
import triton.language as tl


def quantize_rows(
    x_ptr,
    q_ptr,
    scale_ptr,
    offset_ptr,
    M,
    K,
    stride_xm,
    stride_qm,
    LEVELS: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """Per-token asymmetric min-max quantization, exactly as quant.activations; stores q - 128 as int8.

    ROWS rows per program. offset = 128 - zero, so that (q - zero) = (q - 128) + offset: the int8 dot
    takes signed values and the offset term is applied per group with the group's weight sums.
    """
    rm = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    m_ok = rm < M
    rk = tl.arange(0, BLOCK_K)
    lo = tl.full((ROWS, BLOCK_K), float("inf"), tl.float32)
    hi = tl.full((ROWS, BLOCK_K), float("-inf"), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + rk
        ok = m_ok[:, None] & (k < K)[None, :]
        x = tl.load(x_ptr + rm[:, None] * stride_xm + k[None, :], mask=ok, other=0.0).to(tl.float32)
        lo = tl.minimum(lo, tl.where(ok, x, float("inf")))
        hi = tl.maximum(hi, tl.where(ok, x, float("-inf")))
    row_lo = tl.where(m_ok, tl.min(lo, axis=1), 0.0)
    row_hi = tl.where(m_ok, tl.max(hi, axis=1), 0.0)
    scale = tl.math.div_rn(tl.maximum(row_hi - row_lo, 1e-8), LEVELS)
    # round half to even with exact operations (libdevice is not available under the interpreter)
    v = tl.math.div_rn(-row_lo, scale)
    f = tl.floor(v)
    d = v - f
    odd = (f - 2.0 * tl.floor(f * 0.5)) != 0.0
    zero = tl.where((d > 0.5) | ((d == 0.5) & odd), f + 1.0, f)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + rk
        ok = m_ok[:, None] & (k < K)[None, :]
        x = tl.load(x_ptr + rm[:, None] * stride_xm + k[None, :], mask=ok, other=0.0).to(tl.float32)
        v = tl.math.div_rn(x, scale[:, None])
        f = tl.floor(v)
        d = v - f
        odd = (f - 2.0 * tl.floor(f * 0.5)) != 0.0
        r = tl.where((d > 0.5) | ((d == 0.5) & odd), f + 1.0, f)
        q = tl.minimum(tl.maximum(r + zero[:, None], 0.0), LEVELS)
        tl.store(q_ptr + rm[:, None] * stride_qm + k[None, :], (q - 128.0).to(tl.int8), mask=ok)
    tl.store(scale_ptr + rm, scale, mask=m_ok)
    tl.store(offset_ptr + rm, 128.0 - zero, mask=m_ok)


def w4a8_matmul(
    q_ptr,
    xscale_ptr,
    offset_ptr,
    w_ptr,
    s_ptr,
    b_ptr,
    y_ptr,
    M,
    N,
    K,
    M_BUCKET,
    GROUPS,
    stride_qm,
    stride_wn,
    stride_wk,
    stride_sn,
    stride_sg,
    stride_ym,
    HAS_BIAS: tl.constexpr,
    HALF: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """Y = xscale * sum_g s_g * ((q - 128) . w_g + offset * sum(w_g)) + b, int8 x int4 with int32 dots."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, HALF)
    m_ok = rm < M
    n_ok = rn < N
    offset = tl.load(offset_ptr + rm, mask=m_ok, other=0.0)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for g in range(0, GROUPS):
        k_lo = g * 2 * HALF + rk
        k_hi = k_lo + HALF
        a_lo = tl.load(
            q_ptr + rm[:, None] * stride_qm + k_lo[None, :], mask=m_ok[:, None] & (k_lo < K)[None, :], other=0
        )
        a_hi = tl.load(
            q_ptr + rm[:, None] * stride_qm + k_hi[None, :], mask=m_ok[:, None] & (k_hi < K)[None, :], other=0
        )
        packed = tl.load(
            w_ptr + rn[None, :] * stride_wn + (g * HALF + rk)[:, None] * stride_wk, mask=n_ok[None, :], other=0x88
        )
        w_lo = (packed & 0x0F).to(tl.int8) - 8
        w_hi = (packed >> 4).to(tl.int8) - 8
        dots = tl.dot(a_lo, w_lo, out_dtype=tl.int32)
        dots = tl.dot(a_hi, w_hi, dots, out_dtype=tl.int32)
        sums = tl.sum(w_lo.to(tl.int32), axis=0) + tl.sum(w_hi.to(tl.int32), axis=0)
        s = tl.load(s_ptr + rn * stride_sn + g * stride_sg, mask=n_ok, other=0.0).to(tl.float32)
        acc += (dots.to(tl.float32) + offset[:, None] * sums.to(tl.float32)[None, :]) * s[None, :]
    xscale = tl.load(xscale_ptr + rm, mask=m_ok, other=0.0)
    acc = acc * xscale[:, None]
    if HAS_BIAS:
        acc += tl.load(b_ptr + rn, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    y = acc.to(y_ptr.dtype.element_ty)
    tl.store(y_ptr + rm[:, None] * stride_ym + rn[None, :], y, mask=m_ok[:, None] & n_ok[None, :])


def w4a16_matmul(
    x_ptr,
    w_ptr,
    s_ptr,
    b_ptr,
    y_ptr,
    M,
    N,
    K,
    M_BUCKET,
    GROUPS,
    stride_xm,
    stride_wn,
    stride_wk,
    stride_sn,
    stride_sg,
    stride_ym,
    HAS_BIAS: tl.constexpr,
    HALF: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """Y = x . deq(W)^T + b: each int4 tile dequantized in registers to x's dtype, fp32 accumulation."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, HALF)
    m_ok = rm < M
    n_ok = rn < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for g in range(0, GROUPS):
        k_lo = g * 2 * HALF + rk
        k_hi = k_lo + HALF
        x_lo = tl.load(
            x_ptr + rm[:, None] * stride_xm + k_lo[None, :], mask=m_ok[:, None] & (k_lo < K)[None, :], other=0.0
        )
        x_hi = tl.load(
            x_ptr + rm[:, None] * stride_xm + k_hi[None, :], mask=m_ok[:, None] & (k_hi < K)[None, :], other=0.0
        )
        packed = tl.load(
            w_ptr + rn[None, :] * stride_wn + (g * HALF + rk)[:, None] * stride_wk, mask=n_ok[None, :], other=0x88
        )
        s = tl.load(s_ptr + rn * stride_sn + g * stride_sg, mask=n_ok, other=0.0).to(tl.float32)
        w_lo = ((packed & 0x0F).to(tl.int32) - 8).to(tl.float32) * s[None, :]
        w_hi = ((packed >> 4).to(tl.int32) - 8).to(tl.float32) * s[None, :]
        if UPCAST:
            # The interpreter has no bf16 arithmetic and truncates fp32 -> bf16 casts: round the weights to
            # bf16 (to nearest even, as the GPU's cast does) in fp32 and multiply in fp32, where bf16 x bf16
            # products are exact, so the sums are those of the GPU's bf16 dot with fp32 accumulation.
            lo_bits = w_lo.to(tl.uint32, bitcast=True)
            hi_bits = w_hi.to(tl.uint32, bitcast=True)
            w_lo = (((lo_bits + 0x7FFF + ((lo_bits >> 16) & 1)) >> 16) << 16).to(tl.float32, bitcast=True)
            w_hi = (((hi_bits + 0x7FFF + ((hi_bits >> 16) & 1)) >> 16) << 16).to(tl.float32, bitcast=True)
            x_lo, x_hi = x_lo.to(tl.float32), x_hi.to(tl.float32)
        else:
            w_lo, w_hi = w_lo.to(x_lo.dtype), w_hi.to(x_lo.dtype)
        acc = tl.dot(x_lo, w_lo, acc, input_precision=DOT_PRECISION)
        acc = tl.dot(x_hi, w_hi, acc, input_precision=DOT_PRECISION)
    if HAS_BIAS:
        acc += tl.load(b_ptr + rn, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    y = acc.to(y_ptr.dtype.element_ty)
    tl.store(y_ptr + rm[:, None] * stride_ym + rn[None, :], y, mask=m_ok[:, None] & n_ok[None, :])
