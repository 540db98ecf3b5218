"""Plot a bag's sensitivity, bit width and action magnitude over time (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dyq_vla_ros import contract
from dyq_vla_ros.bags.errors import BagError
from dyq_vla_ros.bags.read import bag_topics, read_messages


def plot_bag(path: Path, out_png: Path, *, theta_fp: float | None = None) -> Path:
    """Write a PNG with three aligned panels: S_t, activation bits and ||a[0:3]||."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wanted = (contract.TOPIC_SENSITIVITY, contract.TOPIC_BIT_WIDTH, contract.TOPIC_ACTION)
    missing = [t for t in wanted if t not in bag_topics(path)]
    if missing:
        raise BagError(f"bag {path} lacks {', '.join(missing)}: replay it first (dyq-vla replay)")
    series: dict[str, tuple[list[float], list[float]]] = {t: ([], []) for t in wanted}
    for topic, t, msg in read_messages(path, list(wanted)):
        value = float(np.linalg.norm(np.asarray(msg.data)[:3])) if topic == contract.TOPIC_ACTION else float(msg.data)
        series[topic][0].append(t * 1e-9)
        series[topic][1].append(value)
    t0 = min(ts[0] for ts, _ in series.values() if ts)
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(10, 6.5), constrained_layout=True)
    x, y = series[contract.TOPIC_SENSITIVITY]
    axes[0].plot(np.asarray(x) - t0, y, color="tab:purple", lw=1.2)
    if theta_fp is not None:
        axes[0].axhline(theta_fp, color="grey", ls="--", lw=0.8, label=f"θ_fp = {theta_fp}")
        axes[0].legend(loc="upper right")
    axes[0].set_ylabel("sensitivity S_t")
    x, y = series[contract.TOPIC_BIT_WIDTH]
    axes[1].step(np.asarray(x) - t0, y, where="post", color="tab:red", lw=1.5)
    axes[1].set_yscale("log", base=2)
    axes[1].set_yticks([2, 4, 8, 16], labels=["2", "4", "8", "16"])
    axes[1].set_ylabel("activation bits")
    x, y = series[contract.TOPIC_ACTION]
    axes[2].plot(np.asarray(x) - t0, y, color="tab:blue", lw=1.2)
    axes[2].set_ylabel("‖a[0:3]‖ (m/step)")
    axes[2].set_xlabel("time (s)")
    fig.suptitle(f"{Path(path).name}: precision switching")
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)
