"""Model setup: real weights for a user's machine (``avatar models download``).

Three ways to get models onto disk:

- ``models.tiny.make_tiny_models``: tiny random models with the real architectures
  for offline tests and demos (``avatar models tiny``).
- ``download_models``: the real weights from the Hugging Face Hub, checked against a
  ``SHA256SUMS`` file so a truncated or tampered download is caught on the next run
  (``avatar models download``).
- ``models.pull``: a deployment profile's weights, checked against ``models.lock.json``
  (``avatar models pull``).

The cheap file checks engines make from their ``availability()`` (:func:`missing_llm_files`,
:func:`missing_whisper_files`) live in :mod:`avatar.model_files`, which this module uses too.
torch, transformers and huggingface_hub are imported inside the functions: they are the
optional ``avatar[local-llm]`` extra.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from avatar.model_files import INSTALL_HINT, missing_llm_files, missing_whisper_files

if TYPE_CHECKING:
    from avatar.settings import Settings

DEFAULT_LLM_REPO = "Qwen/Qwen2.5-0.5B-Instruct"
DEFAULT_LLM_DIR = "qwen2.5-0.5b-instruct"
# Local directory names `avatar models download` knows how to fill, and their Hub repos.
KNOWN_LLM_REPOS: dict[str, str] = {
    DEFAULT_LLM_DIR: DEFAULT_LLM_REPO,
    "qwen2.5-1.5b-instruct": "Qwen/Qwen2.5-1.5B-Instruct",
    "qwen2.5-3b-instruct": "Qwen/Qwen2.5-3B-Instruct",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
CHECKSUM_FILE = "SHA256SUMS"


class ModelSetupError(RuntimeError):
    """Setting up models failed in a way the user can fix (offline, bad checksum, ...)."""


# --- real weights ----------------------------------------------------------------------------


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def _weight_files(model_dir: Path) -> list[Path]:
    """Every file of the model, skipping hidden download metadata (``.cache/``) and the sums."""
    return sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file()
        and p.name != CHECKSUM_FILE
        and not any(part.startswith(".") for part in p.relative_to(model_dir).parts)
    )


def write_checksums(model_dir: Path, *, log: Callable[[str], None] = _log) -> Path:
    """Record the sha256 of every file in ``model_dir/SHA256SUMS`` (``sha256sum -c`` format)."""
    files = _weight_files(model_dir)
    lines = []
    for i, path in enumerate(files, 1):
        rel = path.relative_to(model_dir).as_posix()
        log(f"sha256 [{i}/{len(files)}] {rel} ({path.stat().st_size / 1e6:.1f} MB)")
        lines.append(f"{sha256_file(path)}  {rel}\n")
    out = model_dir / CHECKSUM_FILE
    out.write_text("".join(lines), encoding="utf-8")
    return out


def verify_checksums(model_dir: Path, *, log: Callable[[str], None] = _log) -> None:
    """Check every file listed in ``model_dir/SHA256SUMS``; raise ModelSetupError on any mismatch."""
    entries = [
        line.split(maxsplit=1)
        for line in (model_dir / CHECKSUM_FILE).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    bad: list[str] = []
    for i, (digest, rel) in enumerate(entries, 1):
        rel = rel.strip().lstrip("*")  # "*" marks binary mode in sha256sum output
        path = model_dir / rel
        log(f"verify [{i}/{len(entries)}] {rel}")
        if not path.is_file():
            bad.append(f"{rel} (missing)")
        elif sha256_file(path) != digest:
            bad.append(f"{rel} (checksum mismatch)")
    if bad:
        raise ModelSetupError(
            f"{model_dir}: {', '.join(bad)}. Delete the directory and run `avatar models download` again."
        )


def download_llm(dest: Path, *, repo_id: str = DEFAULT_LLM_REPO, log: Callable[[str], None] = _log) -> Path:
    """Download ``repo_id`` into ``dest`` and check it against ``dest/SHA256SUMS``.

    The first download writes SHA256SUMS; every later run (a re-download is a no-op for
    files already there) verifies against it.
    """
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelSetupError(f"downloading models needs huggingface_hub; {INSTALL_HINT}") from exc

    dest = Path(dest)
    if constants.HF_HUB_OFFLINE:
        raise ModelSetupError(
            f"cannot download {repo_id}: HF_HUB_OFFLINE is set. Unset it, or copy the model files into {dest}."
        )
    log(f"downloading {repo_id} -> {dest}")
    try:
        snapshot_download(  # draws its own progress bars
            repo_id,
            local_dir=dest,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.jinja", "tokenizer.model"],
        )
    except Exception as exc:  # network errors come from several libraries (httpx, hub, OSError)
        raise ModelSetupError(
            f"could not download {repo_id} ({type(exc).__name__}: {exc}). "
            f"Check the connection to huggingface.co, or copy the model files into {dest}."
        ) from exc

    if (dest / CHECKSUM_FILE).exists():
        verify_checksums(dest, log=log)
    else:
        write_checksums(dest, log=log)
    missing = missing_llm_files(dest)
    if missing:
        raise ModelSetupError(f"{dest} is incomplete after download (no {', '.join(missing)})")
    log(f"ok: {dest}")
    return dest


def llm_download_target(settings: Settings) -> tuple[str, Path]:
    """(Hub repo, local directory) for the configured LLM.

    ``AVATAR_LLM_MODEL`` is either a local directory named after a known model (the cpu
    profile's ``var/models/qwen2.5-0.5b-instruct``), which is filled in place so the
    engine finds it, or a Hub id (``Qwen/Qwen2.5-1.5B-Instruct``), fetched into
    ``models_dir/<name in lower case>``.
    """
    model = settings.llm_model or str(settings.resolved_models_dir / DEFAULT_LLM_DIR)
    if _HUB_ID.fullmatch(model) and not Path(model).parent.is_dir():
        return model, settings.resolved_models_dir / model.split("/")[1].lower()
    known = KNOWN_LLM_REPOS.get(Path(model).name.lower())
    if known:
        return known, Path(model)
    if settings.profile == "tiny":
        raise ModelSetupError("the tiny profile uses generated models: run `avatar models tiny`")
    raise ModelSetupError(
        f"AVATAR_LLM_MODEL={model} is neither a known model directory ({', '.join(KNOWN_LLM_REPOS)}) "
        "nor a Hugging Face repo id; set it to one of them, or copy a chat model there yourself."
    )


# CTranslate2 builds of Whisper on the Hub, by the local folder name the settings use.
KNOWN_ASR_REPOS: dict[str, str] = {
    "faster-whisper-small": "Systran/faster-whisper-small",
    "faster-whisper-medium": "Systran/faster-whisper-medium",
    "faster-whisper-large-v3": "Systran/faster-whisper-large-v3",
    "faster-whisper-large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}


def download_asr(settings: Settings, *, log: Callable[[str], None] = _log) -> Path:
    """The configured faster-whisper folder(s), from the Hub, checked like the LLM."""
    dest = Path(settings.asr_model)
    repo_id = KNOWN_ASR_REPOS.get(dest.name.lower())
    if repo_id is None:
        if settings.profile == "tiny":
            raise ModelSetupError("the tiny profile uses generated models: run `avatar models tiny`")
        raise ModelSetupError(
            f"AVATAR_ASR_MODEL={dest} is not a known model folder ({', '.join(KNOWN_ASR_REPOS)}); "
            "copy a CTranslate2 Whisper model there yourself."
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelSetupError(f"downloading models needs huggingface_hub; {INSTALL_HINT}") from exc
    log(f"downloading {repo_id} -> {dest}")
    try:
        snapshot_download(repo_id, local_dir=dest, allow_patterns=["*.json", "*.bin", "*.txt"])
    except Exception as exc:  # network errors come from several libraries
        raise ModelSetupError(f"could not download {repo_id} ({type(exc).__name__}: {exc})") from exc
    if (dest / CHECKSUM_FILE).exists():
        verify_checksums(dest, log=log)
    else:
        write_checksums(dest, log=log)
    missing = missing_whisper_files(dest)
    if missing == ["preprocessor_config.json"]:  # older CT2 builds: faster-whisper's default (80 mels)
        missing = []
    if missing:
        raise ModelSetupError(f"{dest} is incomplete after download (no {', '.join(missing)})")
    log(f"ok: {dest}")
    return dest


def download_models(
    settings: Settings, what: str = "llm", *, log: Callable[[str], None] = _log
) -> dict[str, Path]:
    """``avatar models download [what]``: real weights for the local models (llm, asr, all)."""
    if what not in ("llm", "asr", "all"):
        raise ModelSetupError(f"unknown model kind {what!r}; choose llm, asr or all")
    done: dict[str, Path] = {}
    if what in ("llm", "all"):
        repo_id, dest = llm_download_target(settings)
        done["llm"] = download_llm(dest, repo_id=repo_id, log=log)
    if what in ("asr", "all"):
        done["asr"] = download_asr(settings, log=log)
    return done
