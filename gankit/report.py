"""One self-contained HTML page per run (or for several runs side by side).

`write_report([run, ...], out)` reads each run directory (config.yaml, log.jsonl,
metrics.jsonl, samples/) and writes one HTML file that needs no network to view:
images and audio are base64 data URIs, the plots are inline SVG drawn here, and the
only script (the sample slider) is inline. `write_run_report(run)` writes
run/report.html; the run loop calls it at each sample interval, so it stays cheap:
no plotting library, the sample files are embedded as they are (never decoded).

Log lines with an "event" key are the watchdog's (rollback, warning, ...): they are
listed, and marked on every curve. Non-finite values (NaN, inf, null) are not drawn;
each curve says how many it skipped and where the first one was.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gankit.errors import GankitError
from gankit.report_svg import line_chart

MAX_FRAMES = 120  # sample grids embedded per run; longer runs keep an even spread (first and last kept)
MAX_FRAME_BYTES = 12_000_000  # ... and at most this many PNG bytes, so the page stays quick to write and open
MAX_AUDIO = 8  # latest WAV files embedded per run
TRANSLATION_FAMILIES = ("pix2pix", "cyclegan", "discogan", "srgan")
_STEP_FILE = re.compile(r"^step-(\d+)")
_CLASS_FILE = re.compile(r"^classes-step-(\d+)\.png$")
_NOT_PLOTTED = ("step", "nimg", "event")


@dataclass
class RunData:
    """What the report shows of one run directory."""

    path: Path
    name: str
    config_text: str = ""
    config: dict = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)  # training lines (no "event" key)
    events: list[dict] = field(default_factory=list)  # watchdog lines (with an "event" key)
    metrics: list[dict] = field(default_factory=list)
    samples: list[tuple[int, Path]] = field(default_factory=list)  # samples/step-N.png, by step
    class_grids: list[tuple[int, Path]] = field(default_factory=list)  # samples/classes-step-N.png
    audio: list[tuple[int, Path]] = field(default_factory=list)  # samples/*.wav, by step then name

    def cfg(self, section: str, key: str, default: str = "") -> str:
        part = self.config.get(section)
        return str(part.get(key, default) if isinstance(part, dict) else default)

    @property
    def family(self) -> str:
        return self.cfg("model", "family", "gan")

    @property
    def conditional(self) -> bool:
        return self.cfg("model", "conditioning", "none") not in ("none", "")

    @property
    def toy(self) -> bool:
        return self.cfg("data", "name") == "toy"


def _read_jsonl(path: Path) -> list[dict]:
    """Parsed lines of a JSONL file; lines that do not parse (a line mid-write) are skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)  # json accepts NaN / Infinity as Python writes them
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _step_files(folder: Path, suffix: str) -> list[tuple[int, Path]]:
    found = []
    for path in folder.glob(f"*{suffix}") if folder.is_dir() else ():
        match = _STEP_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory. Raises GankitError when it is missing or has no log.jsonl."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise GankitError(f"run directory {path} does not exist; pass a directory written by `gankit train`")
    if not (path / "log.jsonl").is_file():
        raise GankitError(f"{path} has no log.jsonl, so it is not a gankit run directory (or it has not logged yet)")
    run = RunData(path=path, name=path.resolve().name)
    config_path = path / "config.yaml"
    if config_path.is_file():
        run.config_text = config_path.read_text(errors="replace")
        try:
            parsed = yaml.safe_load(run.config_text)
        except yaml.YAMLError:
            parsed = None  # the text is still shown as it is
        run.config = parsed if isinstance(parsed, dict) else {}
    lines = _read_jsonl(path / "log.jsonl")
    run.log = [r for r in lines if "event" not in r]
    run.events = [r for r in lines if "event" in r]
    run.metrics = _read_jsonl(path / "metrics.jsonl")
    samples = path / "samples"
    run.samples = _step_files(samples, ".png")
    run.audio = sorted(_step_files(samples, ".wav"), key=lambda sp: (sp[0], sp[1].name))
    if samples.is_dir():
        run.class_grids = sorted((int(m.group(1)), p) for p in samples.glob("classes-step-*.png")
                                 if (m := _CLASS_FILE.match(p.name)))
    return run


# ---------------------------------------------------------------- numbers


def _number(value) -> float | None:
    """A plottable float, NaN for non-finite or null values, None for anything not numeric."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _flatten(row: dict, prefix: str = "") -> dict[str, object]:
    """Nested metric dicts -> dotted keys (the protocol is shown apart, not plotted)."""
    flat: dict[str, object] = {}
    for key, value in row.items():
        if key == "protocol" and not prefix:
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _numeric_keys(rows: list[dict]) -> list[str]:
    keys: dict[str, None] = {}  # a key that is null in every row is not a curve
    for row in rows:
        for key, value in row.items():
            if key not in _NOT_PLOTTED and value is not None and _number(value) is not None:
                keys.setdefault(key, None)
    return list(keys)


def _series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(rows):
        if key not in row:
            continue
        y = _number(row[key])
        if y is None:
            continue
        step = _number(row.get("step", i))
        xs.append(step if step is not None and math.isfinite(step) else float(i))
        ys.append(y)
    return xs, ys


def _chart_groups(keys: list[str]) -> list[tuple[str, list[str]]]:
    """Losses together, D's two scores together, every other numeric key on its own."""
    losses = [k for k in keys if "loss" in k]
    scores = [k for k in ("real_score", "fake_score") if k in keys]
    groups = [("Losses", losses), ("D(real) and D(fake): mean raw scores", scores)]
    groups += [(k, [k]) for k in keys if k not in losses and k not in scores]
    return [(title, ks) for title, ks in groups if ks]


# ---------------------------------------------------------------- SVG line charts

def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _spread(items: list, limit: int) -> list:
    """At most `limit` items, evenly spread, the first and the last always kept (just the last for 1)."""
    if len(items) <= limit:
        return items
    if limit <= 1:
        return items[-1:]
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def _frames(samples: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """The sample grids to embed: at most MAX_FRAMES, and fewer when they would pass MAX_FRAME_BYTES."""
    sizes = {p: p.stat().st_size for _, p in samples}
    limit = min(len(samples), MAX_FRAMES)
    while limit > 1:
        picked = _spread(samples, limit)
        if sum(sizes[p] for _, p in picked) <= MAX_FRAME_BYTES:
            return picked
        limit -= max(1, limit // 8)
    return samples[-1:]


def _json_for_script(value) -> str:
    return json.dumps(value).replace("</", "<\\/")


def _event_steps(runs: list[RunData]) -> list[tuple[float, str]]:
    marks = []
    for run in runs:
        for event in run.events:
            step = _number(event.get("step"))
            if step is not None and math.isfinite(step):
                marks.append((step, f"{run.name}: {event.get('event')} {event.get('message', '')}".strip()))
    return marks


def _curves_section(runs: list[RunData], title: str, rows_of, marks: list[tuple[float, str]], anchor: str) -> str:
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(_numeric_keys(rows_of(run))))
    groups = _chart_groups(list(keys)) if anchor == "curves" else [(k, [k]) for k in keys]
    if not groups:
        return ""
    charts = []
    for group_title, group_keys in groups:
        series = []
        for r, run in enumerate(runs):
            for k, key in enumerate(group_keys):
                xs, ys = _series(rows_of(run), key)
                if xs:
                    label = key if len(runs) == 1 else f"{run.name}: {key}"
                    series.append({"label": label, "xs": xs, "ys": ys,
                                   "color": k if len(runs) == 1 else r, "dash": 0 if len(runs) == 1 else k})
        if series:
            charts.append(line_chart(series, group_title, marks))
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2><div class="charts">{"".join(charts)}</div></section>'


def _metrics_tables(runs: list[RunData]) -> str:
    parts = []
    for run in runs:
        if not run.metrics:
            continue
        flat = [_flatten(m) for m in run.metrics]
        keys = [k for k in dict.fromkeys(k for row in flat for k in row) if k not in ("step", "nimg")]
        head = "".join(f"<th>{html.escape(k)}</th>" for k in ["step", "nimg", *keys])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(k)))}</td>" for k in ["step", "nimg", *keys])
                       + "</tr>" for row in flat)
        protocols: dict[str, list] = {}
        for m in run.metrics:
            protocols.setdefault(json.dumps(m.get("protocol"), indent=1, sort_keys=True), []).append(m.get("step"))
        proto = "".join(f"<details><summary>protocol (steps {html.escape(', '.join(map(str, steps)))})</summary>"
                        f"<pre>{html.escape(text)}</pre></details>" for text, steps in protocols.items())
        parts.append(f"<h3>{html.escape(run.name)}</h3><div class=\"scroll\"><table><tr>{head}</tr>{body}</table></div>"
                     f"{proto}")
    return "".join(parts)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.5g}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."  # e.g. per-mode count lists


def _events_section(runs: list[RunData]) -> str:
    rows = []
    for run in runs:
        for event in run.events:
            extra = {k: v for k, v in event.items() if k not in ("step", "event", "message")}
            kind = str(event.get("event"))
            rows.append(f'<tr class="ev-{html.escape(kind)}"><td>{html.escape(run.name)}</td>'
                        f"<td>{html.escape(_fmt(event.get('step')))}</td><td>{html.escape(kind)}</td>"
                        f"<td>{html.escape(str(event.get('message', '')))}</td>"
                        f"<td>{html.escape(json.dumps(extra)) if extra else ''}</td></tr>")
    body = ("<table><tr><th>run</th><th>step</th><th>event</th><th>message</th><th>details</th></tr>"
            + "".join(rows) + "</table>") if rows else "<p>No watchdog events.</p>"
    return f'<section id="events"><h2>Watchdog events</h2>{body}</section>'


def _sample_caption(run: RunData) -> str:
    if run.toy:
        return "2-D samples (scatter over the real mixture)"
    if run.family in TRANSLATION_FAMILIES:
        return "translation: rows of input | output | target"
    if run.conditional:
        return "class-conditional samples"
    return "samples from fixed noise"


def _samples_panel(run: RunData, index: int) -> str:
    """The latest sample (big), a slider over every embedded step, per-class grid and audio."""
    parts = [f'<div class="run-panel"><h3>{html.escape(run.name)}</h3>']
    if run.conditional and run.class_grids:
        step, path = run.class_grids[-1]
        parts.append(f'<figure class="latest"><img alt="per-class grid" src="{_data_uri(path, "image/png")}">'
                     f"<figcaption>latest per-class grid, step {step} (one row per class)</figcaption></figure>")
    frames = _frames(run.samples)
    if frames:
        uris = [_data_uri(p, "image/png") for _, p in frames]
        steps = [s for s, _ in frames]
        caption = html.escape(_sample_caption(run))
        parts.append(f'<figure class="latest"><img id="frame-{index}" alt="samples" src="{uris[-1]}">'
                     f'<figcaption>{caption}, step <span id="frame-step-{index}">{steps[-1]}</span></figcaption>')
        if len(frames) > 1:
            note = f" ({len(frames)} of {len(run.samples)} grids)" if len(frames) < len(run.samples) else ""
            parts.append(f'<input type="range" class="slider" data-run="{index}" min="0" max="{len(frames) - 1}" '
                         f'value="{len(frames) - 1}" aria-label="step"><div class="hint">drag over steps '
                         f"{steps[0]}..{steps[-1]}{note}</div>"
                         f'<script type="application/json" id="frames-{index}">'
                         f"{_json_for_script({'steps': steps, 'uris': uris})}</script>")
        parts.append("</figure>")
    else:
        parts.append("<p>No sample grids yet.</p>")
    for step, path in run.audio[-MAX_AUDIO:]:
        parts.append(f'<div class="audio"><span>{html.escape(path.name)} (step {step})</span>'
                     f'<audio controls preload="none" src="{_data_uri(path, "audio/wav")}"></audio></div>')
    parts.append("</div>")
    return "".join(parts)


def _summary_table(runs: list[RunData]) -> str:
    rows = []
    for run in runs:
        last = run.log[-1] if run.log else {}
        rows.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in (
            run.name, str(run.config.get("preset", "")), run.family,
            run.cfg("model", "name"), run.cfg("data", "name"), run.cfg("model", "conditioning", "none"),
            _fmt(last.get("step")), _fmt(last.get("nimg")), str(len(run.events)))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("run", "preset", "family", "model", "data", "conditioning",
                                             "last step", "nimg", "events"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _config_blocks(runs: list[RunData]) -> str:
    parts = []
    for run in runs:
        description, preset = run.config.get("description", ""), run.config.get("preset", "")
        text = run.config_text or "(no config.yaml)"
        parts.append(f"<details><summary>{html.escape(run.name)}: config.yaml (preset {html.escape(str(preset))})"
                     f"</summary><pre>{html.escape(text)}</pre></details>"
                     + (f"<p class=\"desc\">{html.escape(str(description))}</p>" if description else ""))
    return "".join(parts)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
h3{font-size:15px;margin:8px 0}table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}th{background:#f4f4f4}
pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:420px}.scroll{overflow:auto}
.runs{display:flex;flex-wrap:wrap;gap:24px}.run-panel{flex:1 1 320px;max-width:720px}
figure{margin:0 0 8px}figure.latest img{width:100%;max-width:640px;image-rendering:pixelated;border:1px solid #ccc}
.slider{width:100%;max-width:640px}.hint,.note,figcaption{color:#666;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #eee;padding:4px;width:528px}
.legend span{margin-right:10px;font-size:12px;white-space:nowrap}.ev-rollback td{background:#fdecea}
.ev-warning td{background:#fff8e1}.audio{margin:4px 0}.audio span{margin-right:8px;font-size:12px}
.desc{margin:2px 0 10px;color:#444}
"""

# Records script errors on the page (tests read them back); set before any other script runs.
_ERROR_HOOK = ("<script>window.gankitErrors=[];window.addEventListener('error',function(e){"
               "window.gankitErrors.push(String(e.message));"
               "document.documentElement.setAttribute('data-js-errors',window.gankitErrors.join(' | '));});</script>")

_SLIDER_JS = """<script>
(function(){
  document.querySelectorAll('input.slider').forEach(function(s){
    var i=s.getAttribute('data-run'), frames=JSON.parse(document.getElementById('frames-'+i).textContent);
    var img=document.getElementById('frame-'+i), label=document.getElementById('frame-step-'+i);
    s.addEventListener('input',function(){img.src=frames.uris[+s.value];label.textContent=frames.steps[+s.value];});
  });
  document.documentElement.setAttribute('data-report-ready','1');
})();
</script>"""


def render_report(runs: list[RunData]) -> str:
    """The whole HTML page for `runs` (one or more), as a string."""
    names = ", ".join(run.name for run in runs)
    marks = _event_steps(runs)
    metrics_curves = _curves_section(runs, "Evaluation metrics", lambda r: [_flatten(m) for m in r.metrics],
                                     marks, "metrics")
    tables = _metrics_tables(runs)
    metrics = (metrics_curves.replace("</section>", tables + "</section>") if metrics_curves
               else '<section id="metrics"><h2>Evaluation metrics</h2><p>No evaluations '
                    "(metrics.jsonl) yet.</p></section>")
    body = [
        f"<h1>gankit report: {html.escape(names)}</h1>",
        f'<section id="summary">{_summary_table(runs)}{_config_blocks(runs)}</section>',
        '<section id="samples"><h2>Samples</h2><div class="runs">'
        + "".join(_samples_panel(run, i) for i, run in enumerate(runs)) + "</div></section>",
        _curves_section(runs, "Training curves", lambda r: r.log, marks, "curves")
        or '<section id="curves"><h2>Training curves</h2><p>No numeric log lines yet.</p></section>',
        metrics,
        _events_section(runs),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>gankit report: {html.escape(names)}</title><style>{_CSS}</style>{_ERROR_HOOK}</head>"
            f"<body>{''.join(body)}{_SLIDER_JS}</body></html>\n")


def _write_atomic(out: Path, text: str) -> None:
    """Temp file + rename, so a browser reloading the page mid-write never sees half of it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)


def write_report(run_dirs: list[Path], out: Path) -> Path:
    """Write one self-contained HTML page for `run_dirs` (curves of several runs share axes) to `out`.

    Raises GankitError for a missing run directory or one without log.jsonl. Returns `out`.
    """
    if not run_dirs:
        raise GankitError("no run directory given; pass one or more run directories")
    runs = [load_run(d) for d in run_dirs]
    names = [run.name for run in runs]
    for run in runs:
        if names.count(run.name) > 1:  # e.g. a/run and b/run: name them by their parent too
            run.name = f"{run.path.resolve().parent.name}/{run.name}"
    out = Path(out).expanduser()
    _write_atomic(out, render_report(runs))
    return out


def write_run_report(run_dir: Path) -> Path:
    """Write `run_dir/report.html` for one run (called by the loop at each sample interval). Returns its path."""
    return write_report([Path(run_dir)], Path(run_dir) / "report.html")
