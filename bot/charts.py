"""Charts for staff, drawn headless (matplotlib's Agg backend) into PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a shop's server

from matplotlib.figure import Figure

from bot.services.surveys import SurveyReport


def survey_chart(
    report: SurveyReport, reason_labels: dict[str, str], reasons_title: str, nps_title: str, days_label: str
) -> bytes:
    """Left: why customers left (last 90 days). Right: NPS over 90 days, the previous 30 and the last 30."""
    figure = Figure(figsize=(9, 4), dpi=100)
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
