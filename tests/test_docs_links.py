"""The manual's cross-references resolve: a reader who follows a link or a preset's pointer to docs/ finds the file."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# [text](target) or [text](target#anchor); web links and mail are not files.
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
DOC_PATH = re.compile(r"docs/[\w./-]+\.(?:md|png|svg|wav)")


def relative_links(markdown: Path) -> list[str]:
    return [t for t in LINK.findall(markdown.read_text()) if "://" not in t and not t.startswith("mailto:")]


def test_markdown_links_point_at_files():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in pages for target in relative_links(page)
              if not (page.parent / target).exists()]
    assert broken == []


def test_preset_descriptions_name_existing_docs():
    presets = sorted((ROOT / "gankit" / "presets").glob("*.yaml"))
    assert presets, "no presets found"
    broken = [f"{p.name} -> {ref}" for p in presets
              for ref in DOC_PATH.findall(str(yaml.safe_load(p.read_text()).get("description", "")))
              if not (ROOT / ref).exists()]
    assert broken == []


def test_link_pattern_finds_relative_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("see [a](docs/a.md), [b](b.png#top), [web](https://x.org/y.md) and [m](mailto:x@y)")
    assert relative_links(page) == ["docs/a.md", "b.png"]
