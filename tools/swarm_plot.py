# tools/swarm_plot.py: draws one tools/swarm run as a standalone SVG (no matplotlib on the target machines, so
# the SVG is written by hand). Top panel: each leecher's progress fraction over time, one polyline per peer,
# with T_min (the Kumar-Ross bound) and the last finish as vertical lines. Bottom panel: the whole swarm's
# upload rate on the wire (from the bridge's veth counters) against the swarm's total upload capacity, so
# idle capacity shows up as a gap under the dashed line.
from xml.sax.saxutils import escape

W, H = 980, 640
LEFT, RIGHT_LEGEND, TOP = 70, 210, 50
PANEL1_H, GAP, PANEL2_H = 330, 60, 130


def _colour(i, n):
    # Evenly spread hues, alternating lightness so neighbours stay distinguishable with 20+ lines.
    hue = (i * 360.0 / max(1, n)) % 360
    light = 38 if i % 2 == 0 else 52
    return f"hsl({hue:.0f},70%,{light}%)"


def _ticks(hi, want=8):
    if hi <= 0:
        return [0]
    raw = hi / want
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = mag
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            step = m * mag
            break
    out, v = [], 0.0
    while v <= hi + 1e-9:
        out.append(v)
        v += step
    return out


def write_svg(path, run):
    """run: dict with keys title, subtitle, t_min, t_last (or None), leechers=[{name, rate_mbit, samples:
    [(t, frac)], finish}], upload=[(t, mbit)], capacity_mbit, delay_note."""
    t_min = run["t_min"]
    t_last = run.get("t_last")
    t_hi = max([t_min, t_last or 0] + [s[-1][0] for l in run["leechers"] for s in [l["samples"]] if s]) * 1.05
    t_hi = max(t_hi, 1.0)
    pw = W - LEFT - RIGHT_LEGEND
    x = lambda t: LEFT + pw * t / t_hi
    y1 = lambda f: TOP + PANEL1_H * (1 - f)
    top2 = TOP + PANEL1_H + GAP
    up_hi = max([run["capacity_mbit"]] + [v for _, v in run["upload"]]) * 1.1 or 1
    y2 = lambda v: top2 + PANEL2_H * (1 - v / up_hi)

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{escape(run["title"])}</text>',
         f'<text x="{LEFT}" y="38" fill="#444">{escape(run["subtitle"])}</text>']
    # Axes and grid, panel 1.
    for f in (0, 0.25, 0.5, 0.75, 1.0):
        o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y1(f):.1f}" y2="{y1(f):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{LEFT - 6}" y="{y1(f) + 4:.1f}" text-anchor="end">{f:.2f}</text>')
    for t in _ticks(t_hi):
        o.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{TOP + PANEL1_H}" stroke="#eee"/>')
        o.append(f'<text x="{x(t):.1f}" y="{TOP + PANEL1_H + 16}" text-anchor="middle">{t:g}</text>')
        o.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top2}" y2="{top2 + PANEL2_H}" stroke="#eee"/>')
        o.append(f'<text x="{x(t):.1f}" y="{top2 + PANEL2_H + 16}" text-anchor="middle">{t:g}</text>')
    o.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{PANEL1_H}" fill="none" stroke="#000"/>')
    o.append(f'<text x="{LEFT + pw / 2}" y="{TOP + PANEL1_H + 32}" text-anchor="middle">'
             'seconds since the leechers started</text>')
    o.append(f'<text transform="translate(18,{TOP + PANEL1_H / 2}) rotate(-90)" text-anchor="middle">'
             'fraction downloaded</text>')
    # Progress polylines.
    n = len(run["leechers"])
    legend = []
    for i, l in enumerate(run["leechers"]):
        c = _colour(i, n)
        pts = " ".join(f"{x(t):.1f},{y1(min(1.0, max(0.0, f))):.1f}" for t, f in l["samples"])
        if pts:
            o.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.6"/>')
        fin = f'{l["finish"]:.1f} s' if l.get("finish") is not None else "unfinished"
        legend.append((c, f'{l["name"]} {l["rate_mbit"]:g} Mbit/s: {fin}', False))
    # T_min and last finish.
    o.append(f'<line x1="{x(t_min):.1f}" x2="{x(t_min):.1f}" y1="{TOP}" y2="{top2 + PANEL2_H}" stroke="#c00" '
             'stroke-width="2" stroke-dasharray="6,4"/>')
    o.append(f'<text x="{x(t_min) + 4:.1f}" y="{TOP + 14}" fill="#c00">T_min {t_min:.1f} s</text>')
    legend.append(("#c00", f"T_min (Kumar-Ross) {t_min:.1f} s", True))
    if t_last is not None:
        o.append(f'<line x1="{x(t_last):.1f}" x2="{x(t_last):.1f}" y1="{TOP}" y2="{top2 + PANEL2_H}" '
                 'stroke="#000" stroke-width="1.5" stroke-dasharray="2,3"/>')
        o.append(f'<text x="{x(t_last) + 4:.1f}" y="{TOP + 30}">last finish {t_last:.1f} s</text>')
        legend.append(("#000", f"last leecher done {t_last:.1f} s", True))
    # Panel 2: swarm upload on the wire against capacity.
    for v in _ticks(up_hi, 4):
        o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y2(v):.1f}" y2="{y2(v):.1f}" stroke="#eee"/>')
        o.append(f'<text x="{LEFT - 6}" y="{y2(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    o.append(f'<rect x="{LEFT}" y="{top2}" width="{pw}" height="{PANEL2_H}" fill="none" stroke="#000"/>')
    o.append(f'<text transform="translate(18,{top2 + PANEL2_H / 2}) rotate(-90)" text-anchor="middle">'
             'Mbit/s up</text>')
    cap = run["capacity_mbit"]
    o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y2(cap):.1f}" y2="{y2(cap):.1f}" stroke="#06c" '
             'stroke-dasharray="5,3"/>')
    o.append(f'<text x="{LEFT + 4}" y="{y2(cap) - 4:.1f}" fill="#06c">upload capacity u_s + sum u_i = '
             f'{cap:g} Mbit/s</text>')
    if run["upload"]:
        pts = " ".join(f"{x(t):.1f},{y2(v):.1f}" for t, v in run["upload"])
        o.append(f'<polyline points="{pts}" fill="none" stroke="#222" stroke-width="1.5"/>')
    o.append(f'<text x="{LEFT + pw / 2}" y="{top2 + PANEL2_H + 32}" text-anchor="middle">'
             'whole swarm upload on the wire (all hosts, from the bridge counters)</text>')
    # Legend on the right.
    lx, ly = LEFT + pw + 14, TOP + 4
    step = min(16, (H - ly - 20) / max(1, len(legend)))
    fs = 11 if step >= 13 else 9
    for i, (c, label, dashed) in enumerate(legend):
        yy = ly + i * step
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        o.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{c}" stroke-width="2"{dash}/>')
        o.append(f'<text x="{lx + 22}" y="{yy + 4:.1f}" font-size="{fs}">{escape(label)}</text>')
    if run.get("delay_note"):
        o.append(f'<text x="{LEFT}" y="{H - 6}" fill="#666" font-size="10">{escape(run["delay_note"])}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
