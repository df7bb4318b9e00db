"""The report's one inline stylesheet: readable on screen, clean when printed."""

from __future__ import annotations

from accord.report._palette import FONT_FAMILY, GRID, INK, MUTED

__all__ = ["STYLESHEET"]

STYLESHEET = f"""
*{{box-sizing:border-box}}
html{{-webkit-text-size-adjust:100%}}
body{{margin:0;background:#f4f5f7;color:{INK};font:15px/1.55 {FONT_FAMILY}}}
.page{{max-width:980px;margin:0 auto;background:#fff;min-height:100vh;
  box-shadow:0 0 0 1px {GRID}}}
header.masthead{{background:#1d2b45;color:#fff;padding:28px 40px 24px}}
header.masthead .kicker{{font-size:12px;letter-spacing:.08em;text-transform:uppercase;
  color:#a9b8d6;margin:0 0 6px}}
header.masthead h1{{font-size:28px;line-height:1.2;margin:0;font-weight:650}}
header.masthead .subtitle{{margin:6px 0 0;color:#d5ddef;font-size:15px}}
main{{padding:8px 40px 24px}}
.summary{{margin:24px 0 8px;padding:16px 20px;border:1px solid #d7e0ee;border-radius:8px;
  background:#f5f8fc}}
.summary h2{{margin:0 0 10px;font-size:13px;letter-spacing:.06em;text-transform:uppercase;
  color:{MUTED};border:0;padding:0}}
.summary dl{{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));
  gap:12px 24px;margin:0}}
.summary dt{{font-size:12px;color:{MUTED}}}
.summary dd{{margin:2px 0 0;font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}}
.status{{display:flex;gap:10px;align-items:baseline;margin:12px 0;padding:10px 14px;
  border-radius:6px;border:1px solid;font-size:14px}}
.status .mark{{font-weight:700}}
.status.ok{{background:#edf7f0;border-color:#9fd3b1;color:#1c5a34}}
.status.fail{{background:#fdf0ef;border-color:#efaaa4;color:#8a1f17}}
section{{margin-top:32px}}
h2{{font-size:21px;margin:0 0 8px;padding-bottom:6px;border-bottom:2px solid {GRID}}}
p{{margin:8px 0 12px;max-width:72ch}}
p.intro{{color:{MUTED}}}
.table-wrap{{overflow-x:auto;margin:12px 0 20px}}
table{{border-collapse:collapse;font-size:14px;min-width:50%}}
caption{{caption-side:top;text-align:left;font-size:13px;color:{MUTED};padding-bottom:6px}}
th,td{{padding:6px 12px;text-align:left;border-bottom:1px solid {GRID}}}
th{{font-weight:600;border-bottom:2px solid #c9ced6;white-space:nowrap}}
tbody tr:nth-child(even){{background:#fafbfc}}
td.num,th.num{{text-align:right;font-variant-numeric:tabular-nums}}
td.prov,th.prov{{font-size:11px;color:{MUTED};white-space:nowrap}}
td.prov{{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}}
figure{{margin:16px 0 24px;padding:12px;border:1px solid {GRID};border-radius:8px}}
figure .art{{text-align:center}}
figure svg,figure img{{max-width:100%;height:auto;display:inline-block}}
figcaption{{font-size:13px;color:#3b4250;margin-top:8px;max-width:80ch}}
figcaption b{{color:{INK}}}
.prov-note{{display:block;margin-top:4px;font-size:11px;color:{MUTED};
  font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}}
footer{{padding:16px 40px 28px;border-top:1px solid {GRID};font-size:12px;color:{MUTED}}}
footer p{{margin:2px 0;max-width:none}}
@media print{{body{{background:#fff}}.page{{box-shadow:none}}
  figure,table{{break-inside:avoid}}header.masthead{{-webkit-print-color-adjust:exact;
  print-color-adjust:exact}}}}
"""
