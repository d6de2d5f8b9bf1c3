"""`gankit doctor`: broken, duplicate and odd-sized files, class folders, recommendations, exit codes."""

import argparse
import json
import shutil
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from gankit.cli_report import cmd_doctor
from gankit.data import load_folder
from gankit.doctor import diagnose, print_diagnosis
from gankit.errors import GankitError


def _save(path, size=(16, 16), mode="RGB", seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    img = img.convert("P") if mode == "P" else img.convert(mode)
    img.save(path)


@pytest.fixture()
def messy(tmp_path):
    """cats/: 3 good squares, one exact copy, a truncated PNG, a text file named .jpg;
    dogs/: two 20x10 images and a palette image; plus a hidden file that must be ignored."""
    root = tmp_path / "pets"
    for i in range(3):
        _save(root / "cats" / f"c{i}.png", seed=i)
    shutil.copy(root / "cats" / "c0.png", root / "cats" / "copy_of_c0.png")
    data = (root / "cats" / "c1.png").read_bytes()
    (root / "cats" / "broken.png").write_bytes(data[: len(data) // 2])
    (root / "cats" / "notes.jpg").write_text("not an image")
    _save(root / "dogs" / "d0.png", size=(20, 10), seed=10)
    _save(root / "dogs" / "d1.jpg", size=(20, 10), seed=11)
    _save(root / "dogs" / "d2.png", mode="P", seed=12)
    _save(root / "dogs" / ".hidden.png", seed=13)
    return root


def test_messy_folder_is_described_exactly(messy):
    r = diagnose(str(messy))
    assert r["kind"] == "folder" and r["files"] == 9 and r["images"] == 7 and r["usable"]
    assert sorted(u["name"] for u in r["unreadable"]) == ["cats/broken.png", "cats/notes.jpg"]
    assert r["duplicates"] == [["cats/c0.png", "cats/copy_of_c0.png"]]
    assert r["modes"] == {"RGB": 6, "P": 1}
    assert {(s["width"], s["height"]): s["count"] for s in r["sizes"]} == {(16, 16): 5, (20, 10): 2}
    assert r["width"] == {"min": 16, "max": 20} and r["height"] == {"min": 10, "max": 16}
    assert {a["ratio"]: a["count"] for a in r["aspect_ratios"]} == {1.0: 5, 2.0: 2}
    assert r["classes"] == {"count": 2, "images": {"cats": 4, "dogs": 3}, "imbalance": 1.333}
    rec = r["recommendation"]
    assert rec["preset"] == "dcgan-folder" and rec["conditional"] and rec["crop"] and rec["augment"] and rec["ema"]
    assert rec["resolution"] == 16
    for part in ("--data", "model.conditioning=acgan", "data.crop=center", "tricks.augment=color,translation,cutout",
                 "train.ema_kimg="):
        assert part in rec["command"]
    assert not any("alpha" in note for note in rec["notes"])


def test_alpha_images_and_paths_with_spaces(tmp_path):
    for i in range(2):
        _save(tmp_path / "my pics" / f"{i}.png", size=(32, 32), mode="RGBA", seed=i)
    rec = diagnose(str(tmp_path / "my pics"))["recommendation"]
    assert any("alpha channel" in note for note in rec["notes"])
    assert f"--data '{tmp_path / 'my pics'}'" in rec["command"]


def test_doctor_counts_what_the_folder_loader_loads(messy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader warns about the two unreadable files
        data = load_folder(messy, resolution=16)
    r = diagnose(str(messy))
    assert len(data) == r["images"]
    assert data.class_names == list(r["classes"]["images"])


def test_zip_matches_folder(messy, tmp_path):
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(messy.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(messy.parent).as_posix())  # wrapped in pets/, as zipping a folder does
    folder, zipped = diagnose(str(messy)), diagnose(str(archive))
    assert zipped["kind"] == "zip"
    for key in ("images", "duplicates", "classes", "modes", "sizes"):
        assert zipped[key] == folder[key]


def test_unlabelled_greyscale_square_folder(tmp_path):
    for i in range(3):
        _save(tmp_path / "imgs" / f"{i}.png", size=(64, 64), mode="L", seed=i)
    _save(tmp_path / "imgs" / "sub" / "x.png", size=(64, 64), mode="L", seed=9)  # images at top -> unlabelled
    r = diagnose(str(tmp_path / "imgs"))
    assert r["classes"] is None and r["images"] == 4 and not r["duplicates"]
    rec = r["recommendation"]
    assert rec["resolution"] == 64 and not rec["crop"] and not rec["conditional"]
    assert "data.channels=1" in rec["command"] and "conditioning" not in rec["command"]


def test_exit_codes_and_json(messy, tmp_path, capsys):
    assert cmd_doctor(argparse.Namespace(path=str(messy), json=True)) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["images"] == 7
    assert cmd_doctor(argparse.Namespace(path=str(messy), json=False)) == 0
    text = capsys.readouterr().out
    assert "cats/broken.png" in text and "cats/c0.png, cats/copy_of_c0.png" in text and "recommended:" in text
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert cmd_doctor(argparse.Namespace(path=str(bad), json=False)) == 2
    assert "not usable" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert cmd_doctor(argparse.Namespace(path=str(tmp_path / "empty"), json=True)) == 2
    assert json.loads(capsys.readouterr().out)["usable"] is False
    with pytest.raises(GankitError, match="does not exist"):
        diagnose(str(tmp_path / "nowhere"))


def test_builtin_digits(capsys):
    r = diagnose("digits")
    assert r["kind"] == "builtin" and r["images"] == 1797 and r["classes"]["count"] == 10
    assert r["sizes"] == [{"width": 8, "height": 8, "count": 1797}] and r["modes"] == {"L": 1797}
    assert r["recommendation"]["preset"] == "acgan-digits" and r["recommendation"]["augment"]
    print_diagnosis(r)
    assert "gankit train --preset acgan-digits" in capsys.readouterr().out
