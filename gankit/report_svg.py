"""Inline SVG line charts for the HTML report: no plotting library, no script, any number of curves."""

from __future__ import annotations

import html
import math

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
            "#bcbd22")
_DASHES = ("", "6 3", "2 3", "8 3 2 3")
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 520, 230, 58, 12, 10, 34
MAX_POINTS = 800  # points drawn per curve; longer logs are thinned evenly (shape kept, page small)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    span = hi - lo
    raw = span / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _range(values: list[float]) -> tuple[float, float, bool]:
    """y range of the finite values: the 1st..99th percentile when outliers would flatten the rest."""
    values = sorted(values)
    lo, hi = values[0], values[-1]
    clipped = False
    if len(values) >= 20:
        p_lo, p_hi = values[len(values) // 100], values[-1 - len(values) // 100]
        if p_hi > p_lo and (hi - lo) > 5 * (p_hi - p_lo):
            lo, hi, clipped = p_lo, p_hi, True
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad, clipped
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad, clipped


def _paths(xs: list[float], ys: list[float], sx, sy, lo: float, hi: float) -> list[str]:
    """SVG path data, one piece per run of finite points (a NaN breaks the line)."""
    stride = max(1, len(xs) // MAX_POINTS)
    keep = [i for i in range(0, len(xs), stride)] + ([len(xs) - 1] if (len(xs) - 1) % stride else [])
    pieces, current = [], []
    for i in keep:
        if not math.isfinite(ys[i]):
            if current:
                pieces.append(current)
            current = []
            continue
        current.append(f"{sx(xs[i]):.1f},{sy(min(max(ys[i], lo), hi)):.1f}")
    if current:
        pieces.append(current)
    return ["M" + " L".join(p) if len(p) > 1 else f"M{p[0]} l0.01,0" for p in pieces]


def line_chart(series: list[dict], title: str, marks: list[tuple[float, str]] = ()) -> str:
    """An inline SVG chart with an HTML legend. Each series: label, xs, ys, color (index), dash (index).

    Non-finite ys are not drawn (counted in a note); `marks` are (step, text) vertical event lines.
    """
    finite = [y for s in series for y in s["ys"] if math.isfinite(y)]
    xs_all = [x for s in series for x in s["xs"]]
    notes = []
    for s in series:
        bad = [x for x, y in zip(s["xs"], s["ys"]) if not math.isfinite(y)]
        if bad:
            notes.append(f"{s['label']}: {len(bad)} non-finite value(s) not drawn, first at step {bad[0]:g}")
    if not finite:
        return (f'<div class="chart"><h3>{html.escape(title)}</h3><p class="note">no finite values</p>'
                + "".join(f'<div class="note">{html.escape(n)}</div>' for n in notes) + "</div>")
    lo, hi, clipped = _range(finite)
    x0, x1 = min(xs_all), max(xs_all)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    sx = lambda x: _LEFT + (x - x0) / (x1 - x0) * pw  # noqa: E731
    sy = lambda y: _TOP + (hi - y) / (hi - lo) * ph  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" stroke="#bbb"/>']
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{_LEFT - 4}" y="{sy(t) + 4:.1f}" font-size="11" text-anchor="end">{t:.4g}</text>')
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{_TOP + ph + 14}" font-size="11" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{_LEFT + pw / 2}" y="{_H - 3}" font-size="11" text-anchor="middle">step</text>')
    for step, text in marks:
        if x0 <= step <= x1:
            out.append(f'<line x1="{sx(step):.1f}" x2="{sx(step):.1f}" y1="{_TOP}" y2="{_TOP + ph}" stroke="#e53935" '
                       f'stroke-dasharray="3 3"><title>{html.escape(text)}</title></line>')
    legend = []
    for s in series:
        color, dash = _PALETTE[s["color"] % len(_PALETTE)], _DASHES[s["dash"] % len(_DASHES)]
        for d in _paths(s["xs"], s["ys"], sx, sy, lo, hi):
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}" '
                       f'stroke-linecap="round"><title>{html.escape(s["label"])}</title></path>')
        legend.append(f'<span><svg width="22" height="8"><line x1="0" x2="22" y1="4" y2="4" stroke="{color}" '
                      f'stroke-width="2" stroke-dasharray="{dash}"/></svg> {html.escape(s["label"])}</span>')
    out.append("</svg>")
    if clipped:
        notes.append("y axis shows the 1st..99th percentile; outliers are drawn at the edge")
    return (f'<div class="chart"><h3>{html.escape(title)}</h3>{"".join(out)}<div class="legend">{"".join(legend)}'
            f'</div>{"".join(f"<div class=note>{html.escape(n)}</div>" for n in notes)}</div>')


# ---------------------------------------------------------------- HTML pieces
