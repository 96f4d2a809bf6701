"""Names of derived files: deterministic, collision-free, never outside outputDir, never an input."""
from __future__ import annotations

import os

import pytest

from segmenter.output_paths import OutputDirError, derived_path, prepare_output_dir, safe_stem


def test_deterministic_and_collision_free(tmp_path):
    a = derived_path(tmp_path, "/data/a.wav", {"speechOnly": False})
    assert a == derived_path(tmp_path, "/data/a.wav", {"speechOnly": False})
    assert a.parent == tmp_path.resolve() and a.suffix == ".wav" and a.name.startswith("a-")
    others = {derived_path(tmp_path, "/data/a.wav", {"speechOnly": True}),
              derived_path(tmp_path, "/other/a.wav", {"speechOnly": False}),
              derived_path(tmp_path, "/data/a.mp3", {"speechOnly": False})}
    assert a not in others and len(others) == 3


@pytest.mark.parametrize("name", ["../../x", "..", ".", "", "/etc/passwd", "a/../../b.wav", "évé nt.wav"])
def test_names_stay_inside(tmp_path, name):
    stem = safe_stem(name)
    assert stem and set(stem) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    assert derived_path(tmp_path, name or "x", {}).parent == tmp_path.resolve()


def test_symlink_planted_at_the_name_is_refused(tmp_path):
    out = derived_path(tmp_path, "/data/a.wav", {})
    os.symlink(tmp_path.parent / "elsewhere.wav", out)
    with pytest.raises(ValueError, match="outside"):
        derived_path(tmp_path, "/data/a.wav", {})


def test_never_an_input(tmp_path):
    out = derived_path(tmp_path, "/data/a.wav", {})
    with pytest.raises(ValueError, match="input"):
        derived_path(tmp_path, "/data/a.wav", {}, inputs=[out])


def test_output_dir_created_or_clear_error(tmp_path):
    assert prepare_output_dir(tmp_path / "x" / "y").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputDirError, match="cannot be created"):
        prepare_output_dir(blocker / "sub")
    with pytest.raises(OutputDirError, match="not a folder"):
        prepare_output_dir(blocker)
