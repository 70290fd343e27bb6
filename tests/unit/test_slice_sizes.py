"""The planner's slice sizes: small first and last slices (so reading the first and writing the last,
which nothing overlaps, are short), and every due customer in exactly one slice."""

from hypothesis import given
from hypothesis import strategies as st

from bot.services.planner import slice_sizes


@given(size=st.integers(1, 50_000), total=st.integers(0, 400_000))
def test_slices_hold_every_customer_once_and_none_is_larger_than_asked(size: int, total: int) -> None:
    sizes = slice_sizes(size, total)
    assert sum(sizes) == total
    assert all(0 < part <= size for part in sizes)


@given(size=st.integers(8, 50_000), full=st.integers(1, 20))
def test_a_long_run_begins_and_ends_with_an_eighth_of_a_slice(size: int, full: int) -> None:
    ramp = [size // 8, size // 4, size // 2]
    sizes = slice_sizes(size, 2 * sum(ramp) + full * size)
    assert sizes[:3] == ramp
    assert sizes[-3:] == ramp[::-1]
    assert sizes[3:-3] == [size] * full


def test_with_no_total_known_only_the_first_slices_are_small() -> None:
    assert slice_sizes(20_000, None) == [2500, 5000, 10_000]
    assert slice_sizes(3, None) == [1]
