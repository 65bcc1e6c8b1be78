"""HTML pieces of the report page: escaped text, numbers that carry their raw value, tables and
small inline SVG charts. No template engine and no chart library: the page is one file that
opens anywhere without the network.

Every number shown is `<span data-testid=... data-value=RAW>formatted</span>`, so a program (the
browser test) reads the exact value beside the text a person reads. Chart marks carry
`data-tip`, the text the page's script shows on hover (and an SVG <title> without script).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Kind = str  # "count", "share", "money", "number", "hours", "days", "psi"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any, kind: Kind = "number", unit: str = "") -> str:
    """A number as a person reads it ("-" when unknown)."""
    if not finite(value):
        return "-"
    if kind == "count":
        text = f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:,.1f}"
    elif kind == "share":
        text = f"{value:.1%}"
    elif kind == "money":
        text = _money(value)
    elif kind in ("hours", "days"):
        text = f"{value:,.1f} {'h' if kind == 'hours' else 'd'}"
    elif kind == "psi":
        text = f"{value:.3f}"
    else:
        text = f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text} {unit}" if unit and kind == "money" else text


def _money(value: float) -> str:
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:,.1f}k"
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}" if size >= 1 else f"{value:.3g}"


def raw(value: Any) -> str:
    """The exact value for `data-value` (repr: the shortest text that reads back the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if finite(value):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "" if value is None or isinstance(value, float) else esc(value)


def num(testid: str, value: Any, kind: Kind = "number", unit: str = "") -> str:
    return (
        f'<span class="num" data-testid="{esc(testid)}" data-value="{raw(value)}">'
        f"{esc(fmt(value, kind, unit))}</span>"
    )


def text(testid: str, value: Any) -> str:
    return f'<span data-testid="{esc(testid)}" data-value="{esc(value)}">{esc(value)}</span>'


def empty(testid: str, why: str) -> str:
    """A section without its data: one plain sentence saying why (with `code` as code)."""
    parts = esc(why).split("`")
    sentence = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return f'<p class="empty" data-testid="empty-{esc(testid)}">{sentence}</p>'


def section(key: str, title: str, body: str, lead: str = "") -> str:
    intro = f'<p class="lead">{lead}</p>' if lead else ""
    return (
        f'<section id="{esc(key)}" data-testid="section-{esc(key)}">'
        f"<h2>{esc(title)}</h2>{intro}{body}</section>"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], testid: str = "") -> str:
    """A table of pre-rendered cells (escape text cells with `esc`)."""
    attr = f' data-testid="{esc(testid)}"' if testid else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(content: str) -> str:
    """Numbers align right, words left."""
    return f"<td>{content}</td>" if 'class="num"' in content else f'<td class="t">{content}</td>'


def tiles(items: Sequence[tuple[str, str]]) -> str:
    """Key figures as tiles: (label, rendered value)."""
    cells = "".join(
        f'<div class="tile"><div class="tile-label">{esc(label)}</div>'
        f'<div class="tile-value">{value}</div></div>'
        for label, value in items
    )
    return f'<div class="tiles">{cells}</div>'


# ---------------------------------------------------------------- charts (inline SVG)

W, H = 560, 260
PAD = (60, 16, 20, 34)  # left, right, top, bottom


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    a: float  # pixel of lo
    b: float  # pixel of hi
    log: bool = False

    def __call__(self, v: float) -> float:
        f = (lambda x: math.log10(x)) if self.log else (lambda x: x)
        lo, hi = f(self.lo), f(self.hi)
        t = 0.5 if hi == lo else (f(v) - lo) / (hi - lo)
        return self.a + t * (self.b - self.a)


def _bounds(values: Sequence[float], zero: bool = False, log: bool = False) -> tuple[float, float]:
    vals = [v for v in values if finite(v) and (not log or v > 0)]
    if not vals:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if zero and not log:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if lo == hi:
        lo, hi = (lo / 2, hi * 2) if log else (lo - 1, hi + 1)
    if not log:
        span = hi - lo
        lo, hi = (lo if zero and lo == 0 else lo - 0.05 * span), hi + 0.05 * span
    return lo, hi


def _ticks(scale: Scale, fmt_tick: Callable[[float], str], axis: str, n: int = 5) -> str:
    out = []
    for i in range(n):
        if scale.log:
            v = 10 ** (
                math.log10(scale.lo) + i * (math.log10(scale.hi) - math.log10(scale.lo)) / (n - 1)
            )
        else:
            v = scale.lo + i * (scale.hi - scale.lo) / (n - 1)
        p = scale(v)
        if axis == "x":
            out.append(
                f'<line class="grid" x1="{p:.1f}" x2="{p:.1f}" y1="{PAD[2]}" y2="{H - PAD[3]}"/>'
                f'<text class="tick" x="{p:.1f}" y="{H - PAD[3] + 14}" '
                f'text-anchor="middle">{esc(fmt_tick(v))}</text>'
            )
        else:
            out.append(
                f'<line class="grid" x1="{PAD[0]}" x2="{W - PAD[1]}" y1="{p:.1f}" y2="{p:.1f}"/>'
                f'<text class="tick" x="{PAD[0] - 6}" y="{p + 4:.1f}" '
                f'text-anchor="end">{esc(fmt_tick(v))}</text>'
            )
    return "".join(out)


def _labels(scale: Scale, labels: Sequence[tuple[float, str]]) -> str:
    step = max(1, -(-len(labels) // 6))  # at most 6 labels
    return "".join(
        f'<text class="tick" x="{scale(x):.1f}" y="{H - PAD[3] + 14}" '
        f'text-anchor="middle">{esc(label)}</text>'
        for x, label in list(labels)[::step]
    )


def _svg(testid: str, title: str, inner: str, x_label: str, y_label: str) -> str:
    return (
        f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
        f'<svg data-testid="{esc(testid)}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="{esc(title)}">{inner}'
        f'<text class="axis" x="{(PAD[0] + W - PAD[1]) / 2}" y="{H - 2}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
        f'<text class="axis" transform="rotate(-90)" x="{-(PAD[2] + H - PAD[3]) / 2}" y="11" '
        f'text-anchor="middle">{esc(y_label)}</text></svg></figure>'
    )


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str
    attrs: dict[str, Any]  # data-* attributes of the mark (raw values)
    highlight: bool = False


def _mark_attrs(attrs: dict[str, Any]) -> str:
    return "".join(f' data-{esc(k)}="{raw(v)}"' for k, v in attrs.items())


def _circle(x: float, y: float, p: Point, css: str, r: float = 4.5) -> str:
    cls = f"{css} hl" if p.highlight else css
    return (
        f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="{r + (2 if p.highlight else 0)}" '
        f'data-tip="{esc(p.tip)}"{_mark_attrs(p.attrs)}><title>{esc(p.tip)}</title></circle>'
    )


def scatter(
    testid: str,
    title: str,
    points: Sequence[Point],
    x_label: str,
    y_label: str,
    x_fmt: Callable[[float], str],
    y_fmt: Callable[[float], str],
    line: bool = False,
    diagonal: bool = False,
    mark_class: str = "pt",
    x_labels: Sequence[tuple[float, str]] = (),
    x_zero: bool = False,
) -> str:
    """Points (optionally joined in order, or over the y = x diagonal of a calibration chart);
    `x_labels` replaces the x axis's ticks (e.g. dates of runs)."""
    pts = [p for p in points if finite(p.x) and finite(p.y)]
    xs, ys = [p.x for p in pts], [p.y for p in pts]
    if diagonal:
        lo, hi = _bounds(xs + ys, zero=True)
        xb = yb = (max(lo, 0.0), hi)
    else:
        xb, yb = _bounds(xs, zero=x_zero), _bounds(ys)
    sx = Scale(xb[0], xb[1], PAD[0], W - PAD[1])
    sy = Scale(yb[0], yb[1], H - PAD[3], PAD[2])
    inner = (_labels(sx, x_labels) if x_labels else _ticks(sx, x_fmt, "x")) + _ticks(sy, y_fmt, "y")
    if diagonal:
        inner += (
            f'<line class="diag" x1="{sx(xb[0]):.1f}" y1="{sy(yb[0]):.1f}" '
            f'x2="{sx(xb[1]):.1f}" y2="{sy(yb[1]):.1f}"/>'
        )
    if line and len(pts) > 1:
        path = " ".join(f"{sx(p.x):.1f},{sy(p.y):.1f}" for p in pts)
        inner += f'<polyline class="line" points="{path}"/>'
    inner += "".join(_circle(sx(p.x), sy(p.y), p, mark_class) for p in pts)
    return _svg(testid, title, inner, x_label, y_label)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    tip: str
    testid: str
    limit: float | None = None  # a capacity line on the bar
    css: str = "bar"


def bars(title: str, items: Sequence[Bar], value_fmt: Callable[[float], str], testid: str) -> str:
    """Horizontal bars, each with its value and an optional limit mark (capacity)."""
    top = max([b.value for b in items if finite(b.value)] + [b.limit or 0 for b in items] + [1e-9])
    row, label_w, width = 30, 150, W - 150 - 70
    inner = []
    for i, b in enumerate(items):
        y = 8 + i * row
        length = width * (b.value / top) if finite(b.value) and b.value > 0 else 0
        inner.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{esc(b.label)}</text>"
            f'<rect class="{b.css}" x="{label_w}" y="{y}" width="{length:.1f}" height="20" rx="3" '
            f'data-testid="{esc(b.testid)}" data-value="{raw(b.value)}" data-tip="{esc(b.tip)}">'
            f"<title>{esc(b.tip)}</title></rect>"
            f'<text class="tick" x="{label_w + length + 6:.1f}" y="{y + 15}">'
            f"{esc(value_fmt(b.value))}</text>"
        )
        if b.limit is not None and finite(b.limit):
            x = label_w + width * b.limit / top
            inner.append(
                f'<line class="limit" x1="{x:.1f}" x2="{x:.1f}" y1="{y - 3}" y2="{y + 23}">'
                f"<title>{esc(f'limit {value_fmt(b.limit)}')}</title></line>"
            )
    height = 16 + row * len(items)
    return (
        f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
        f'<svg class="bars" data-testid="{esc(testid)}" viewBox="0 0 {W} {height}" role="img" '
        f'aria-label="{esc(title)}">{"".join(inner)}</svg></figure>'
    )


def calibration_scatter(chart_id: str, title: str, points: list, x_label: str, y_label: str) -> str:
    """Predicted (x) against observed (y) win rate, as shares, joined, with the diagonal."""
    share = lambda v: fmt(v, "share")  # noqa: E731
    return scatter(
        chart_id, title, points, x_label, y_label, share, share, line=True, diagonal=True
    )
