"""Precision controller: maps sensitivity to an activation bit width with asymmetric hysteresis."""

from __future__ import annotations

from dataclasses import dataclass

from dyq_vla_ros.dyq.errors import CalibrationError
from dyq_vla_ros.types import BIT_WIDTHS, PrecisionMode


@dataclass(frozen=True)
class Thresholds:
    """Sensitivity thresholds: S > theta_fp -> 16, > theta_4_8 -> 8, > theta_2_4 -> 4, else 2."""

    theta_2_4: float = 0.15
    theta_4_8: float = 0.3
    theta_fp: float = 0.5

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise CalibrationError(problem)

    def problem(self) -> str:
        """Why these thresholds are inconsistent, or an empty string."""
        return self.problem_of(self.theta_2_4, self.theta_4_8, self.theta_fp)

    @staticmethod
    def problem_of(theta_2_4: float, theta_4_8: float, theta_fp: float) -> str:
        """Why thresholds with these values would be inconsistent, or an empty string."""
        for name, value in (("theta_2_4", theta_2_4), ("theta_4_8", theta_4_8), ("theta_fp", theta_fp)):
            if not 0.0 <= value <= 1.0:
                return f"{name}={value} lies outside [0, 1]"
        if not theta_2_4 <= theta_4_8 <= theta_fp:
            got = f"{theta_2_4} / {theta_4_8} / {theta_fp}"
            return f"thresholds must satisfy theta_2_4 <= theta_4_8 <= theta_fp, got {got}"
        return ""

    def lookup(self, sensitivity: float) -> int:
        """Bit width the table asks for at this sensitivity."""
        if sensitivity > self.theta_fp:
            return 16
        if sensitivity > self.theta_4_8:
            return 8
        if sensitivity > self.theta_2_4:
            return 4
        return 2


class PrecisionController:
    """Chooses the activation bits in force, step by step.

    Upgrades apply at once; a downgrade applies only after `downgrade_steps` consecutive steps
    ask for lower precision, and then goes to the highest precision asked for during that run.
    Static modes pin the bit width. `allowed_bits` (hardware-aware allocation) rounds a request
    up to the next allowed width, so a mode that is no faster than a more precise one is never used.
    """

    def __init__(
        self,
        mode: PrecisionMode = PrecisionMode.DYQ,
        *,
        thresholds: Thresholds | None = None,
        downgrade_steps: int = 5,
        allowed_bits: tuple[int, ...] = BIT_WIDTHS,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.downgrade_steps = downgrade_steps
        self.allowed_bits = allowed_bits
        self._mode = mode
        self.switch_count = 0
        self._bits = 16
        self._pending = 0
        self._pending_target = 0
        self.reset()
        self.switch_count = 0

    @property
    def mode(self) -> PrecisionMode:
        """The precision mode in force."""
        return self._mode

    @mode.setter
    def mode(self, mode: PrecisionMode) -> None:
        self._mode = mode
        static = mode.static_bits
        self._set_bits(16 if static is None else static)
        self._pending = 0

    @property
    def downgrade_steps(self) -> int:
        """Consecutive lower requests needed before a downgrade (K)."""
        return self._k

    @downgrade_steps.setter
    def downgrade_steps(self, k: int) -> None:
        if int(k) < 1:
            raise ValueError(f"downgrade_steps must be at least 1, got {k}")
        self._k = int(k)

    @property
    def allowed_bits(self) -> tuple[int, ...]:
        """Bit widths dynamic mode may choose; 16 is always allowed."""
        return self._allowed

    @allowed_bits.setter
    def allowed_bits(self, bits: tuple[int, ...]) -> None:
        unknown = set(bits) - set(BIT_WIDTHS)
        if unknown:
            raise ValueError(f"unknown bit widths {sorted(unknown)}; expected a subset of {BIT_WIDTHS}")
        self._allowed = tuple(sorted(set(bits) | {16}))

    @property
    def bits(self) -> int:
        """Activation bits in force."""
        return self._bits

    def request(self, sensitivity: float) -> int:
        """Bit width asked for at this sensitivity, before hysteresis."""
        wanted = self.thresholds.lookup(sensitivity)
        return next(b for b in self._allowed if b >= wanted)

    def step(self, sensitivity: float) -> int:
        """Advance one control step with the latest sensitivity; return the bits in force."""
        if self._mode is not PrecisionMode.DYQ:
            return self._bits
        wanted = self.request(sensitivity)
        if wanted > self._bits:
            self._set_bits(wanted)
            self._pending = 0
        elif wanted < self._bits:
            self._pending_target = wanted if self._pending == 0 else max(self._pending_target, wanted)
            self._pending += 1
            if self._pending >= self._k:
                self._set_bits(self._pending_target)
                self._pending = 0
        else:
            self._pending = 0
        return self._bits

    def reset(self) -> None:
        """Start an episode: dynamic mode starts at 16 bits, static modes at their width."""
        self.mode = self._mode

    def _set_bits(self, bits: int) -> None:
        if bits != self._bits:
            self.switch_count += 1
        self._bits = bits


class FlowStepController:
    """Chooses the flow-matching integration steps of each inference from the same sensitivity.

    Above theta the checkpoint's full count runs; below it the reduced count, once `downgrade_steps`
    consecutive steps ask for it (upgrades apply at once, as for the bit width). An episode starts at
    the full count. reduced = 0 turns the allocation off (always the full count).
    """

    def __init__(self, full: int, *, reduced: int = 0, theta: float = 0.5, downgrade_steps: int = 5) -> None:
        if full < 1 or reduced < 0:
            raise ValueError(f"flow steps must be positive, got full {full}, reduced {reduced}")
        if not 0.0 <= theta <= 1.0:
            raise ValueError(f"theta_flow must lie in [0, 1], got {theta}")
        self.full = full
        self.reduced = reduced
        self.theta = theta
        self.downgrade_steps = downgrade_steps
        self._steps = full
        self._pending = 0

    @property
    def enabled(self) -> bool:
        """Whether fewer steps are ever chosen."""
        return 0 < self.reduced < self.full

    @property
    def steps(self) -> int:
        """Flow-matching steps of the next inference."""
        return self._steps if self.enabled else self.full

    def step(self, sensitivity: float) -> int:
        """Advance one control step; the steps in force."""
        if not self.enabled:
            return self.full
        if sensitivity > self.theta:
            self._steps, self._pending = self.full, 0
        elif self._steps != self.reduced:
            self._pending += 1
            if self._pending >= self.downgrade_steps:
                self._steps, self._pending = self.reduced, 0
        return self._steps

    def reset(self) -> None:
        """Start an episode at the full count."""
        self._steps, self._pending = self.full, 0
