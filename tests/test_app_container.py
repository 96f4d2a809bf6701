"""The Containerfile cannot be built here (no container engine): check it agrees with the repo."""
from __future__ import annotations

import fnmatch
import re

from conftest import DEFAULT_SEGMENTER, DEFAULT_SEPARATOR, ROOT

CONTAINERFILE = (ROOT / "Containerfile").read_text()
REQUIREMENTS = (ROOT / "requirements.txt").read_text()


def instructions() -> list[tuple[str, str]]:
    out = []
    for line in CONTAINERFILE.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_base_image_matches_the_clams_pin():
    (base,) = [rest for op, rest in instructions() if op == "FROM"]
    m = re.fullmatch(r"ghcr\.io/clamsproject/clams-python-ffmpeg-tf2:(\S+)", base)
    assert m, base
    pin = re.search(r"^clams-python==(\S+)$", REQUIREMENTS, re.M)
    assert pin and pin.group(1) == m.group(1)


def test_installs_requirements_and_runs_production():
    ops = instructions()
    runs = [rest for op, rest in ops if op == "RUN"]
    assert any(re.search(r"pip3? install .*-r requirements\.txt", r) for r in runs)
    copies = [rest for op, rest in ops if op == "COPY"]
    assert any(c.split()[0] in ("./", ".") for c in copies), "the whole repo must be copied"
    cmd = [rest for op, rest in ops if op == "CMD"][-1]
    assert cmd == '["python3", "app.py", "--production"]'


def test_models_and_code_are_not_excluded_by_dockerignore():
    ignore = (ROOT / ".dockerignore").read_text().split()
    needed = [f"pretrained/{DEFAULT_SEGMENTER}/weights.npz", f"pretrained/{DEFAULT_SEPARATOR}/weights.npz",
              f"pretrained/{DEFAULT_SEGMENTER}/config.json", "app.py", "metadata.py", "cli.py",
              "requirements.txt", "segmenter/pipeline.py"]
    for path in needed:
        for pat in ignore:
            p = pat.rstrip("/")
            assert not (fnmatch.fnmatch(path, p) or path.startswith(p + "/") or fnmatch.fnmatch(path, p + "/*")), \
                f"{path} would be excluded from the image by {pat!r}"
