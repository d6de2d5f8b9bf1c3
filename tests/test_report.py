"""The HTML run report: sections per kind of run, NaN in logs, several runs, and a real headless browser."""

import argparse
import base64
import json
import math
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from gankit import report as report_mod
from gankit.cli_report import add_parsers, cmd_report
from gankit.errors import GankitError
from gankit.report import load_run, write_report, write_run_report


def _png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (12, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:, : size[0] // 2] = color  # two halves, so the picture is not flat
    Image.fromarray(pixels).save(path)


def _wav(path: Path, rate: int = 8000) -> None:
    tone = (np.sin(np.arange(rate // 10) * 0.3) * 20000).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(tone.tobytes())


def make_run(root: Path, name: str = "run", family: str = "gan", data: str = "digits", conditioning: str = "none",
             extra_keys: dict | None = None, steps=(100, 200, 300), log_lines: list[str] | None = None) -> Path:
    """A hand-made run directory: config.yaml, log.jsonl, one sample grid per step."""
    run = root / name
    (run / "samples").mkdir(parents=True)
    config = {"preset": f"{name}-preset", "description": f"hand-made {name}", "seed": 0,
              "data": {"name": data}, "model": {"family": family, "name": "dcgan", "conditioning": conditioning}}
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if log_lines is None:
        log_lines = [json.dumps({"step": s, "nimg": 64 * s, "d_loss": 1.0 / (i + 1), "g_loss": 0.5 + i,
                                 "real_score": 1.0 + i, "fake_score": -1.0 - i, "steps_per_s": 10.0,
                                 "images_per_s": 640.0, **(extra_keys or {})}) for i, s in enumerate(steps)]
    (run / "log.jsonl").write_text("\n".join(log_lines) + "\n")
    for i, s in enumerate(steps):
        _png(run / "samples" / f"step-{s:07d}.png", ((40 * i + 50) % 256, (200 - 40 * i) % 256, 90))
    return run


def _text(run_dirs: list[Path], out: Path) -> str:
    return write_report(run_dirs, out).read_text()


def test_unconditional_report_has_every_section(tmp_path):
    run = make_run(tmp_path)
    html = write_run_report(run).read_text()
    assert (run / "report.html").is_file()
    for section in ('id="summary"', 'id="samples"', 'id="curves"', 'id="metrics"', 'id="events"'):
        assert section in html
    assert "<details><summary>run: config.yaml (preset run-preset)" in html
    assert "hand-made run" in html
    # the slider holds every step's grid as an embedded PNG, latest shown first
    frames = json.loads(re.search(r'<script type="application/json" id="frames-0">(.*?)</script>', html).group(1))
    assert frames["steps"] == [100, 200, 300]
    assert all(u.startswith("data:image/png;base64,") for u in frames["uris"])
    last = (run / "samples" / "step-0000300.png").read_bytes()
    assert base64.b64decode(frames["uris"][-1].split(",", 1)[1]) == last
    assert 'type="range"' in html and 'max="2" value="2"' in html
    assert "<h3>Losses</h3>" in html and "<h3>D(real) and D(fake): mean raw scores</h3>" in html
    assert "<h3>images_per_s</h3>" in html
    assert html.count("<path d=") >= 6  # d_loss, g_loss, both scores, two speed curves
    # self-contained: nothing fetched from the network
    assert not re.search(r'(src|href)="https?:', html) and "<link" not in html
    assert "No watchdog events." in html and "samples from fixed noise" in html


def test_conditional_run_shows_latest_per_class_grid(tmp_path):
    run = make_run(tmp_path, conditioning="acgan", extra_keys={"d_class_loss": 0.3})
    _png(run / "samples" / "classes-step-0000100.png", (1, 2, 3))
    _png(run / "samples" / "classes-step-0000300.png", (9, 8, 7))
    html = write_run_report(run).read_text()
    assert "latest per-class grid, step 300" in html
    latest = base64.b64encode((run / "samples" / "classes-step-0000300.png").read_bytes()).decode()
    assert latest in html
    assert "class-conditional samples" in html and "d_class_loss" in html
    assert load_run(run).samples == [(s, run / "samples" / f"step-{s:07d}.png") for s in (100, 200, 300)]


def test_toy_and_translation_captions_and_family_keys(tmp_path):
    toy = make_run(tmp_path, "toy", data="toy")
    assert "2-D samples (scatter over the real mixture)" in write_run_report(toy).read_text()
    pix = make_run(tmp_path, "pix", family="pix2pix", data="folder", extra_keys={"l1": 0.2, "cycle": 0.1})
    html = write_run_report(pix).read_text()
    assert "rows of input | output | target" in html
    assert "<h3>l1</h3>" in html and "<h3>cycle</h3>" in html


def test_nan_and_bad_lines_do_not_break_the_report(tmp_path):
    lines = [json.dumps({"step": 10, "d_loss": 1.0, "g_loss": 2.0}),
             json.dumps({"step": 20, "d_loss": float("nan"), "g_loss": float("inf")}),  # NaN, Infinity tokens
             json.dumps({"step": 30, "d_loss": None, "g_loss": 1.5}),
             json.dumps({"step": 40, "d_loss": 0.5, "g_loss": 1.0}),
             '{"step": 50, "d_loss": 0.4, "g_lo']  # a line cut mid-write
    run = make_run(tmp_path, steps=(10, 40), log_lines=lines)
    html = write_run_report(run).read_text()
    assert "d_loss: 2 non-finite value(s) not drawn, first at step 20" in html
    assert "g_loss: 1 non-finite value(s) not drawn, first at step 20" in html
    paths = re.findall(r'<path d="([^"]*)"', html)
    assert paths and not any(re.search(r"nan|inf", p, re.I) for p in paths)
    assert len([p for p in paths if p]) >= 3  # the NaN splits d_loss into two pieces


def test_events_metrics_and_audio(tmp_path):
    run = make_run(tmp_path, extra_keys={"m_global": 0.7})
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 200, "event": "rollback", "message": "D collapsed; back to step 100"}) + "\n")
        f.write(json.dumps({"event": "warning", "message": "fake_score saturated", "value": 9.5}) + "\n")
    protocol = {"features": {"network": "digits-classifier", "weights_sha256": "abc123"}, "n_fake": 2000}
    with open(run / "metrics.jsonl", "w") as f:
        for step, fid in ((100, 50.0), (300, 20.0)):
            f.write(json.dumps({"step": step, "nimg": step * 64, "fid": fid, "prdc": {"precision": 0.5},
                                "protocol": protocol}) + "\n")
    _wav(run / "samples" / "step-0000300.wav")
    html = write_run_report(run).read_text()
    assert "D collapsed; back to step 100" in html and 'class="ev-rollback"' in html
    assert "fake_score saturated" in html and "{&quot;value&quot;: 9.5}" in html
    assert 'stroke="#e53935"' in html  # the rollback marked on the curves
    assert "<h3>m_global</h3>" in html and "<h3>fid</h3>" in html and "<h3>prdc.precision</h3>" in html
    assert "protocol (steps 100, 300)" in html and "abc123" in html
    assert '<audio controls preload="none" src="data:audio/wav;base64,' in html
    assert "step-0000300.wav (step 300)" in html


def test_several_runs_share_axes_and_sit_side_by_side(tmp_path):
    a, b = make_run(tmp_path, "alpha"), make_run(tmp_path, "beta", steps=(100, 200, 300, 400))
    html = _text([a, b], tmp_path / "both.html")
    assert html.count("<h3>Losses</h3>") == 1  # one chart holds both runs' curves
    for label in ("alpha: d_loss", "beta: d_loss", "alpha: g_loss", "beta: g_loss"):
        assert label in html
    assert html.count('class="run-panel"') == 2 and 'id="frames-1"' in html
    assert "gankit report: alpha, beta" in html


def test_runs_with_the_same_name_are_told_apart(tmp_path):
    a, b = make_run(tmp_path / "x", "run"), make_run(tmp_path / "y", "run")
    html = _text([a, b], tmp_path / "both.html")
    assert "x/run: d_loss" in html and "y/run: d_loss" in html


def test_cli_parsers():
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "r1", "r2", "--out", "x.html"])
    assert (args.runs, args.out) == (["r1", "r2"], "x.html")
    args = parser.parse_args(["doctor", "digits", "--json"])
    assert (args.path, args.json) == ("digits", True)


def test_long_runs_embed_an_even_spread_of_grids(tmp_path, monkeypatch):
    monkeypatch.setattr(report_mod, "MAX_FRAMES", 4)
    run = make_run(tmp_path, steps=tuple(range(10, 110, 10)))
    html = write_run_report(run).read_text()
    frames = json.loads(re.search(r'id="frames-0">(.*?)</script>', html).group(1))
    assert frames["steps"][0] == 10 and frames["steps"][-1] == 100 and len(frames["steps"]) == 4
    assert "(4 of 10 grids)" in html
    one_grid = (run / "samples" / "step-0000010.png").stat().st_size
    monkeypatch.setattr(report_mod, "MAX_FRAME_BYTES", 2 * one_grid)  # room for two grids only
    frames = json.loads(re.search(r'id="frames-0">(.*?)</script>', write_run_report(run).read_text()).group(1))
    assert frames["steps"] == [10, 100]


def test_errors_and_cli_defaults(tmp_path, monkeypatch):
    with pytest.raises(GankitError, match="does not exist"):
        write_run_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GankitError, match="no log.jsonl"):
        cmd_report(argparse.Namespace(runs=[str(tmp_path / "empty")], out=None))
    a, b = make_run(tmp_path, "a"), make_run(tmp_path, "b")
    assert cmd_report(argparse.Namespace(runs=[str(a)], out=None)) == 0
    assert (a / "report.html").is_file()
    monkeypatch.chdir(tmp_path)
    assert cmd_report(argparse.Namespace(runs=[str(a), str(b)], out=None)) == 0
    assert "b: d_loss" in (tmp_path / "report.html").read_text()
    assert not list(tmp_path.rglob("*.tmp"))  # the atomic write left no temp file


# ---------------------------------------------------------------- a real browser

_SLIDER_PROBE = """<script>
var s=document.querySelector('input.slider'), f=JSON.parse(document.getElementById('frames-0').textContent);
s.value=0; s.dispatchEvent(new Event('input'));
document.documentElement.setAttribute('data-probe', 'first:'+(document.getElementById('frame-0').src===f.uris[0])
  +' label:'+document.getElementById('frame-step-0').textContent);
</script>"""


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _run_chromium(binary: str, page: Path, *flags: str) -> subprocess.CompletedProcess:
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", "--window-size=1100,1400", "--virtual-time-budget=3000", *flags, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium_without_script_errors(tmp_path):
    binary = _chromium()
    run = make_run(tmp_path, conditioning="acgan")
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 350, "d_loss": NaN, "g_loss": 1.0}\n{"step": 360, "event": "rollback", "message": "x"}\n')
    page = write_run_report(run)
    # a copy with a probe at the end that drags the slider to the first step and records what the page shows
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _SLIDER_PROBE + "</body>"))
    dom = _run_chromium(binary, probe, "--dump-dom").stdout
    root = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-report-ready="1"' in root, root  # the page's script ran to its end
    assert "data-js-errors" not in root
    assert 'data-probe="first:true label:100"' in root, root
    shot = tmp_path / "shot.png"
    _run_chromium(binary, page, f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 10, "the screenshot is blank"
    # the check itself: a page whose script fails is caught by the same hook
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("document.querySelectorAll(", "document.noSuchFunction("))
    broken_root = re.search(r"<html[^>]*>", _run_chromium(binary, broken, "--dump-dom").stdout).group(0)
    assert "data-js-errors" in broken_root and "data-report-ready" not in broken_root
    assert math.isfinite(pixels.mean())
