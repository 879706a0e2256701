/** The status pages' stylesheet, served as /ui/assets/app.css (see assets.ts). */
export const css = String.raw`
:root {
  color-scheme: light dark;
  --bg: #fff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa; --link: #0a5bb5; --focus: #0a5bb5;
  --succeeded: #1a7f37; --failed: #c62828; --stale: #a35200; --running: #0b62c4; --never: #5f6b76; --cloud: #6639ba;
  --changed: #8a5d00; --skipped: #6e7781;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9aa4af; --line: #30363d; --panel: #161b22; --link: #6cb6ff; --focus: #6cb6ff;
    --succeeded: #3fb950; --failed: #ff6b61; --stale: #e3a33a; --running: #58a6ff; --never: #9aa4af; --cloud: #bc8cff;
    --changed: #e3b341; --skipped: #8b949e;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--link); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; overflow-wrap: anywhere; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .3rem .6rem; z-index: 1; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { border-bottom: 1px solid var(--line); background: var(--panel); }
.top nav { display: flex; gap: 1rem; align-items: center; max-width: 1200px; margin: 0 auto; padding: .6rem 1rem; }
.brand { font-weight: 600; text-decoration: none; color: var(--fg); }
.live-state { margin-left: auto; color: var(--muted); font-size: .85rem; }
main { max-width: 1200px; margin: 0 auto; padding: .5rem 1rem 2rem; }
main:focus { outline: none; }
footer { max-width: 1200px; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line); }
.muted { color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bad { color: var(--failed); font-weight: 600; }
.empty { padding: 1rem; border: 1px dashed var(--line); border-radius: 6px; }
.links { margin: .5rem 0 1rem; }

.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); gap: .2rem; }
.filters .grow { flex: 1 1 16rem; }
input, select, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; min-height: 2.4rem; }
button { background: var(--panel); cursor: pointer; }

.counts { list-style: none; display: flex; flex-wrap: wrap; gap: .5rem; padding: 0; margin: 0 0 .5rem; }
.count { display: inline-block; padding: .3rem .7rem; border: 1px solid var(--line); border-radius: 999px; text-decoration: none; color: var(--fg); }
.count[aria-current] { background: var(--panel); border-color: var(--fg); }
.count b { margin-left: .25rem; }

.badge { display: inline-block; padding: .05rem .5rem; border: 1px solid currentColor; border-radius: 999px; font-size: .8rem; font-weight: 600; white-space: nowrap; vertical-align: middle; }
.tag { display: inline-block; padding: 0 .4rem; border-radius: 4px; background: var(--panel); border: 1px solid var(--line); font-size: .8rem; }
.s-succeeded, .t-ok { --c: var(--succeeded); }
.s-failed, .s-boot-failed, .s-pull-failed, .s-missing, .t-failed, .t-unreachable { --c: var(--failed); }
.s-stale, .s-out-of-sync { --c: var(--stale); }
.s-booting { --c: var(--running); }
.s-checked-in { --c: var(--succeeded); }
.s-stopped { --c: var(--never); }
.coverage { font-size: 1.1em; margin: .25rem 0 .75rem; }
.advice { margin: .25rem 0 1rem; }
.error-text { white-space: pre-wrap; margin: .25rem 0 0; font-size: .85em; }
.s-running { --c: var(--running); }
.s-never-reported { --c: var(--never); }
.s-cloud { --c: var(--cloud); }
.t-changed { --c: var(--changed); }
.t-skipped, .t-ignored { --c: var(--skipped); }
.t-rescued { --c: var(--stale); }
.badge, .count[class*=" s-"] b { color: var(--c, var(--fg)); }

.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .45rem .5rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: .8rem; color: var(--muted); font-weight: 600; white-space: nowrap; }
tbody th { font-weight: normal; }
table.hosts tbody tr > :first-child { box-shadow: inset 4px 0 var(--c); }
table.hosts th a { font-weight: 600; overflow-wrap: break-word; }
table.hosts time { white-space: nowrap; }
tbody tr:hover { background: var(--panel); }

.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .6rem 1.5rem; margin: 0 0 1rem; }
.facts dt { font-size: .8rem; color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }

.timeline { list-style: none; padding: 0 0 0 1rem; margin: 0; border-left: 2px solid var(--line); }
.entry { position: relative; display: grid; grid-template-columns: 7rem 1fr; gap: .2rem 1rem; padding: .5rem 0; }
.entry::before { content: ""; position: absolute; left: calc(-1rem - 7px); top: .85rem; width: 12px; height: 12px; border-radius: 50%; background: var(--c, var(--muted)); }
.entry .what { overflow-wrap: anywhere; }
.result { font-weight: 600; color: var(--c); }

.play h2 { border-bottom: 1px solid var(--line); padding-bottom: .3rem; }
table.tasks .task { overflow-wrap: anywhere; min-width: 12rem; }
table.tasks .name { font-weight: 600; }
.wf { width: 38%; min-width: 10rem; }
.axis { display: flex; justify-content: space-between; font-weight: normal; }
.bar { display: block; width: 100%; height: 12px; margin-top: .3rem;
  background: repeating-linear-gradient(to right, var(--line) 0 1px, transparent 1px 25%); }
.bar rect { fill: var(--c, var(--muted)); }
tr.t-failed, tr.t-unreachable { background: color-mix(in srgb, var(--failed) 8%, transparent); }
.msg summary { cursor: pointer; color: var(--muted); font-size: .85rem; }
.msg pre { margin: .3rem 0 0; max-height: 24rem; overflow: auto; }
.error h1 { color: var(--failed); }

@media (max-width: 700px) {
  body { font-size: 14px; }
  main { padding: .5rem .6rem 2rem; }
  table.hosts th:nth-child(4), table.hosts td:nth-child(4), table.hosts th:nth-child(5), table.hosts td:nth-child(5),
  table.hosts th:nth-child(7), table.hosts td:nth-child(7), table.hosts th:nth-child(8), table.hosts td:nth-child(8),
  table.hosts th:nth-child(9), table.hosts td:nth-child(9) { display: none; }
  .badge { font-size: .75rem; padding: 0 .4rem; }
  table.tasks th:first-child, table.tasks td:first-child { display: none; }
  .entry { grid-template-columns: 1fr; }
  .wf { min-width: 6rem; }
}
`;
