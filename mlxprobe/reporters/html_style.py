"""The HTML report's stylesheet, inlined into the page (no network, opens from disk).

Must not import: anything.
"""

CSS = """
:root { --good: #1b7f3b; --bad: #c62828; --warn: #b26a00; --none: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d1d1f; background: #f6f7f9; }
main { max-width: 1500px; margin: 0 auto; padding: 16px 24px 48px; }
header h1 { font-size: 22px; margin: 8px 0 4px; }
header p { margin: 2px 0; color: #444; }
.partial { color: var(--bad); font-weight: 600; }
.expected-change { color: #8a5a00; }
h2 { font-size: 18px; margin: 0 0 6px; word-break: break-all; }
h3 { font-size: 15px; margin: 0 0 6px; word-break: break-all; }
h4 { font-size: 13px; margin: 8px 0 2px; text-transform: uppercase; color: #555; }
section.summary { overflow-x: auto; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 16px; margin: 16px 0; }
table.grid { border-collapse: collapse; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 5px 10px;
                               text-align: left; vertical-align: top; }
table.grid td.changed { background: #fff3e0; }
table.grid a { color: inherit; white-space: nowrap; }
table.grid .badge { max-width: 15em; overflow: hidden; text-overflow: ellipsis;
                    vertical-align: middle; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.mismatch { outline: 2px solid #111; outline-offset: 1px; }
.tone-good { background: var(--good); } .tone-bad { background: var(--bad); }
.tone-warn { background: var(--warn); } .tone-none { background: var(--none); }
.arrow { color: #888; margin: 0 4px; }
.expect { color: #555; font-size: 12px; }
.legend { margin: 0 0 4px; font-size: 12px; color: #333; }
.legend span.item { margin-right: 16px; white-space: nowrap; }
.swatch { display: inline-block; width: 18px; height: 4px; margin: 0 6px 3px 0;
          vertical-align: middle; border-radius: 2px; }
.swatch.dashed { background-image: linear-gradient(90deg, transparent 50%, #fff 50%);
                 background-size: 6px 4px; }
figure.plot { margin: 0 0 8px; }
figure.plot svg { width: 100%; height: auto; display: block; }
figure.curve { max-width: 760px; }
figure.curve figcaption { font-size: 0.9em; margin: 4px 0; }
.runs { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
        gap: 12px; }
.runs.compare { grid-template-columns: 1fr; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
article.run { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
              min-width: 0; }
article.run.mismatch { border-color: var(--bad); }
.reason { margin: 4px 0 8px; }
dl.metrics { display: grid; grid-template-columns: max-content 1fr max-content 1fr;
             gap: 2px 10px; margin: 0 0 8px; font-size: 13px; }
dl.metrics dt { color: #555; } dl.metrics dd { margin: 0; font-variant-numeric: tabular-nums; }
details { margin: 6px 0; } summary { cursor: pointer; color: #333; font-weight: 600; }
.evidence table { border-collapse: collapse; font-size: 12px; width: 100%; }
.evidence th { text-align: left; font-weight: normal; color: #555; padding: 1px 8px 1px 0;
               overflow-wrap: anywhere; width: 38%; vertical-align: top; }
.evidence td { overflow-wrap: anywhere; }
pre { background: #f3f4f6; border-radius: 4px; padding: 6px 8px; overflow: auto;
      max-height: 420px; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.fix p { margin: 2px 0; }
pre.snippet { background: #0f172a; color: #e2e8f0; }
"""
