"""Did a nudge change anything? Nudged vs held-out customers: who bought within N days, with a 95 % CI."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

Z_95 = 1.959963984540054
# Below this many customers in either group the interval is too wide to say anything.
MIN_GROUP = 30


class Verdict(StrEnum):
    NOT_ENOUGH_DATA = "not-enough-data"
    WORKS = "works"
    HURTS = "hurts"
    NO_CLEAR_EFFECT = "no-clear-effect"


@dataclass(frozen=True)
class Uplift:
    nudged: int
    nudged_bought: int
    held_out: int
    held_out_bought: int

    @property
    def nudged_rate(self) -> float | None:
        return self.nudged_bought / self.nudged if self.nudged else None

    @property
    def held_out_rate(self) -> float | None:
        return self.held_out_bought / self.held_out if self.held_out else None

    @property
    def difference(self) -> float | None:
        """Nudged rate minus held-out rate (a share, 0.05 = 5 percentage points)."""
        if self.nudged_rate is None or self.held_out_rate is None:
            return None
        return self.nudged_rate - self.held_out_rate

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % confidence interval of the difference (normal approximation for two proportions)."""
        if self.difference is None or self.nudged_rate is None or self.held_out_rate is None:
            return None
        p1, p2 = self.nudged_rate, self.held_out_rate
        se = math.sqrt(p1 * (1 - p1) / self.nudged + p2 * (1 - p2) / self.held_out)
        return (self.difference - Z_95 * se, self.difference + Z_95 * se)

    @property
    def verdict(self) -> Verdict:
        if self.nudged < MIN_GROUP or self.held_out < MIN_GROUP:
            return Verdict.NOT_ENOUGH_DATA
        low, high = self.interval or (0.0, 0.0)
        if low > 0:
            return Verdict.WORKS
        if high < 0:
            return Verdict.HURTS
        return Verdict.NO_CLEAR_EFFECT
