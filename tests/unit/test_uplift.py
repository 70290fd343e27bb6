"""Uplift of a nudge: nudged vs held-out purchase rates, the 95 % interval of their difference, a verdict.

The figures are worked out by hand from the normal approximation for two proportions:
se = sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2), interval = difference ± 1.96 se.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.rules.uplift import MIN_GROUP, Z_95, Uplift, Verdict


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-9)


# -- hand-computed figures ------------------------------------------------------------------------


def test_rates_difference_and_interval_of_thirty_vs_twenty_percent() -> None:
    figures = Uplift(nudged=100, nudged_bought=30, held_out=100, held_out_bought=20)
    assert figures.nudged_rate == approx(0.30)
    assert figures.held_out_rate == approx(0.20)
    assert figures.difference == approx(0.10)
    se = math.sqrt(0.3 * 0.7 / 100 + 0.2 * 0.8 / 100)  # sqrt(0.0037) = 0.060827…
    assert se == pytest.approx(0.0608276, abs=1e-7)
    assert figures.interval is not None
    low, high = figures.interval
    assert low == approx(0.10 - Z_95 * se)
    assert high == approx(0.10 + Z_95 * se)
    # The textbook 1.96 gives the same interval to four decimals: about -0.0192 … 0.2192.
    assert low == pytest.approx(-0.0192, abs=1e-4)
    assert high == pytest.approx(0.2192, abs=1e-4)
    assert abs(Z_95 - 1.96) < 1e-4
    assert figures.verdict is Verdict.NO_CLEAR_EFFECT


def test_unequal_groups() -> None:
    # 200 nudged, 50 bought (25 %); 80 held out, 12 bought (15 %).
    figures = Uplift(nudged=200, nudged_bought=50, held_out=80, held_out_bought=12)
    assert figures.difference == approx(0.10)
    se = math.sqrt(0.25 * 0.75 / 200 + 0.15 * 0.85 / 80)  # sqrt(0.00093750 + 0.00159375) = 0.050312…
    assert se == pytest.approx(0.0503115, abs=1e-7)
    assert figures.interval == (approx(0.10 - Z_95 * se), approx(0.10 + Z_95 * se))
    # 0.10 ± 0.0986: the interval just clears zero (0.0014 … 0.1986).
    assert figures.interval[0] == pytest.approx(0.0014, abs=1e-4)
    assert figures.verdict is Verdict.WORKS


def test_works_when_the_whole_interval_is_above_zero() -> None:
    # 40 % vs 20 %: se = sqrt(0.0024 + 0.0016) = 0.063246; 0.20 ± 0.12396 = 0.0760 … 0.3240.
    figures = Uplift(nudged=100, nudged_bought=40, held_out=100, held_out_bought=20)
    assert figures.interval is not None
    low, high = figures.interval
    assert low == pytest.approx(0.0760, abs=1e-4)
    assert high == pytest.approx(0.3240, abs=1e-4)
    assert figures.verdict is Verdict.WORKS


def test_hurts_when_the_whole_interval_is_below_zero() -> None:
    figures = Uplift(nudged=100, nudged_bought=20, held_out=100, held_out_bought=40)
    assert figures.difference == approx(-0.20)
    assert figures.interval is not None
    low, high = figures.interval
    assert low == pytest.approx(-0.3240, abs=1e-4)
    assert high == pytest.approx(-0.0760, abs=1e-4)
    assert figures.verdict is Verdict.HURTS


def test_no_clear_effect_when_the_interval_spans_zero() -> None:
    figures = Uplift(nudged=50, nudged_bought=12, held_out=50, held_out_bought=10)
    assert figures.interval is not None
    low, high = figures.interval
    assert low < 0 < high
    assert figures.verdict is Verdict.NO_CLEAR_EFFECT


@pytest.mark.parametrize(
    ("nudged", "held_out"),
    [(29, 1000), (1000, 29), (29, 29), (5, 5)],
)
def test_not_enough_data_below_thirty_in_either_group(nudged: int, held_out: int) -> None:
    # Everyone nudged bought, no one held out did: a huge difference, but too few people to say.
    figures = Uplift(nudged=nudged, nudged_bought=nudged, held_out=held_out, held_out_bought=0)
    assert figures.difference == approx(1.0)
    assert figures.verdict is Verdict.NOT_ENOUGH_DATA


def test_thirty_in_each_group_is_enough() -> None:
    assert MIN_GROUP == 30
    figures = Uplift(nudged=30, nudged_bought=30, held_out=30, held_out_bought=0)
    assert figures.interval == (approx(1.0), approx(1.0))  # no variance in either group
    assert figures.verdict is Verdict.WORKS
    assert Uplift(30, 0, 30, 30).verdict is Verdict.HURTS


def test_no_variance_and_no_difference_is_no_clear_effect() -> None:
    figures = Uplift(nudged=40, nudged_bought=0, held_out=40, held_out_bought=0)
    assert figures.interval == (approx(0.0), approx(0.0))
    assert figures.verdict is Verdict.NO_CLEAR_EFFECT


@pytest.mark.parametrize(
    "figures",
    [Uplift(0, 0, 100, 20), Uplift(100, 30, 0, 0), Uplift(0, 0, 0, 0)],
)
def test_an_empty_group_has_no_rate_difference_or_interval(figures: Uplift) -> None:
    assert figures.difference is None
    assert figures.interval is None
    assert figures.verdict is Verdict.NOT_ENOUGH_DATA
    if figures.nudged:
        assert figures.nudged_rate == approx(0.30)
    else:
        assert figures.nudged_rate is None
    if figures.held_out:
        assert figures.held_out_rate == approx(0.20)
    else:
        assert figures.held_out_rate is None


# -- properties -------------------------------------------------------------------------------------


@st.composite
def groups(draw: st.DrawFn, min_size: int = 1, max_size: int = 5000) -> Uplift:
    nudged = draw(st.integers(min_size, max_size))
    held_out = draw(st.integers(min_size, max_size))
    return Uplift(
        nudged,
        draw(st.integers(0, nudged)),
        held_out,
        draw(st.integers(0, held_out)),
    )


@settings(max_examples=300, deadline=None)
@given(groups())
def test_the_interval_contains_the_difference_symmetrically(figures: Uplift) -> None:
    assert figures.difference is not None and figures.interval is not None
    low, high = figures.interval
    assert low <= figures.difference <= high
    assert figures.difference - low == pytest.approx(high - figures.difference, abs=1e-12)
    assert -1.0 <= figures.difference <= 1.0


@settings(max_examples=300, deadline=None)
@given(groups(), st.integers(2, 50))
def test_the_interval_is_wider_with_smaller_groups(figures: Uplift, factor: int) -> None:
    """The same rates among `factor` times as many people: the interval narrows by sqrt(factor)."""
    bigger = Uplift(
        figures.nudged * factor,
        figures.nudged_bought * factor,
        figures.held_out * factor,
        figures.held_out_bought * factor,
    )
    assert bigger.difference == pytest.approx(figures.difference, abs=1e-12)
    assert figures.interval is not None and bigger.interval is not None
    small_width = figures.interval[1] - figures.interval[0]
    big_width = bigger.interval[1] - bigger.interval[0]
    assert big_width <= small_width
    assume(small_width > 0)  # some variance: not everyone (or no one) bought in both groups
    assert big_width < small_width
    assert small_width / big_width == pytest.approx(math.sqrt(factor), rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(groups())
def test_swapping_the_groups_mirrors_the_figures(figures: Uplift) -> None:
    swapped = Uplift(figures.held_out, figures.held_out_bought, figures.nudged, figures.nudged_bought)
    assert figures.difference is not None and swapped.difference is not None
    assert swapped.difference == pytest.approx(-figures.difference, abs=1e-12)
    assert figures.interval is not None and swapped.interval is not None
    assert swapped.interval[0] == pytest.approx(-figures.interval[1], abs=1e-12)
    assert swapped.interval[1] == pytest.approx(-figures.interval[0], abs=1e-12)
    mirrored = {Verdict.WORKS: Verdict.HURTS, Verdict.HURTS: Verdict.WORKS}
    assert swapped.verdict is mirrored.get(figures.verdict, figures.verdict)


@settings(max_examples=300, deadline=None)
@given(groups(max_size=200))
def test_the_verdict_follows_the_group_sizes_and_the_interval(figures: Uplift) -> None:
    assert figures.interval is not None
    low, high = figures.interval
    if figures.nudged < MIN_GROUP or figures.held_out < MIN_GROUP:
        expected = Verdict.NOT_ENOUGH_DATA
    elif low > 0:
        expected = Verdict.WORKS
    elif high < 0:
        expected = Verdict.HURTS
    else:
        expected = Verdict.NO_CLEAR_EFFECT
    assert figures.verdict is expected
