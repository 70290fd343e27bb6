"""Charts for staff, drawn headless (matplotlib's Agg backend) into PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from bot.services.surveys import SurveyReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure() -> Figure:
    """A blank 900×400 figure. matplotlib is imported here, on the first chart: it costs the bot's
    every process (the planner, the CLI) tens of megabytes and a second of start-up otherwise."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a shop's server
    from matplotlib.figure import Figure

    return Figure(figsize=(9, 4), dpi=100)


def survey_chart(
    report: SurveyReport, reason_labels: dict[str, str], reasons_title: str, nps_title: str, days_label: str
) -> bytes:
    """Left: why customers left (last 90 days). Right: NPS over 90 days, the previous 30 and the last 30."""
    figure = _figure()
    left, right = figure.subplots(1, 2)
    reasons = sorted(report.reasons.items(), key=lambda item: item[1])
    names = [reason_labels.get(r, r) for r, _ in reasons]
    counts = [c for _, c in reasons]
    left.barh(names or ["—"], counts or [0], color="#4C78A8")
    for y, count in enumerate(counts):
        left.text(count, y, f" {count} ({report.share(reasons[y][0])}%)", va="center")
    left.set_title(reasons_title)
    left.set_xlim(0, max(counts or [1]) * 1.4)
    periods = [("−90…0", report.nps_90), ("−60…−30", report.nps_previous_30), ("−30…0", report.nps_30)]
    values = [v if v is not None else 0 for _, v in periods]
    colors = ["#54A24B" if v >= 0 else "#E45756" for v in values]
    right.bar([p for p, _ in periods], values, color=colors)
    for x, (_, value) in enumerate(periods):
        below = values[x] < 0
        right.text(
            x,
            values[x],
            "—" if value is None else f"{value:+d}",
            ha="center",
            va="top" if below else "bottom",
        )
    right.set_ylim(-100, 100)
    right.axhline(0, color="#888888", linewidth=0.8)
    right.set_title(nps_title)
    right.set_xlabel(days_label)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def stats_chart(
    segments: dict[str, int], sent_30: dict[str, int], segments_title: str, messages_title: str
) -> bytes:
    """Left: customers per segment. Right: messages sent in 30 days, per rule or campaign."""
    figure = _figure()
    left, right = figure.subplots(1, 2)
    names = list(segments)
    left.bar(names, [segments[n] for n in names], color="#4C78A8")
    for x, name in enumerate(names):
        left.text(x, segments[name], str(segments[name]), ha="center", va="bottom")
    left.set_title(segments_title)
    left.tick_params(axis="x", labelrotation=30)
    rules = sorted(sent_30, key=lambda r: sent_30[r])
    right.barh(rules or ["—"], [sent_30[r] for r in rules] or [0], color="#F58518")
    right.set_title(messages_title)
    return _png(figure)


def uplift_chart(
    rates: dict[str, tuple[float | None, float | None]], nudged: str, held_out: str, title: str
) -> bytes:
    """Per rule: the share who bought after a nudge vs after being held out, in percent."""
    figure = _figure()
    axes = figure.subplots(1, 1)
    rules = list(rates)
    width = 0.38
    for offset, index, label, color in (
        (-width / 2, 0, nudged, "#4C78A8"),
        (width / 2, 1, held_out, "#BAB0AC"),
    ):
        values = [100 * (rates[r][index] or 0.0) for r in rules]
        axes.bar([x + offset for x in range(len(rules))], values, width, label=label, color=color)
    axes.set_xticks(range(len(rules)), rules or ["—"], rotation=20)
    axes.set_ylabel("%")
    axes.set_title(title)
    axes.legend()
    return _png(figure)
