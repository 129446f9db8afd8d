"""``avatar models pull``: the weights a deployment profile needs, SHA-256 checked against
``models.lock.json``.

Downloads go through huggingface_hub's own code path (``hf_hub_download``): its progress
bars, its resumable ``.incomplete`` files, ``HF_ENDPOINT`` and ``HF_TOKEN``. Each manifest
entry lands either in the Hugging Face cache (vLLM reads ``Qwen/...`` from it) or in a
folder under ``models_dir`` where an engine expects it (``local_dir``).

The manifest pins, per model, the Hub commit and every file's SHA-256 and size:

- ``avatar models pull --profile gpu --lock`` (once, with internet) asks the Hub for the
  commit of ``revision`` and each file's LFS SHA-256 (the Hub computes it on upload), then
  downloads, checks the bytes against those sums (small non-LFS files are hashed locally),
  and writes the manifest. Commit it: it is what every later pull checks against.
- ``avatar models pull --profile gpu`` downloads exactly the locked commit and refuses a file
  whose SHA-256 differs (the file is deleted, so the next run fetches it again).
- With ``HF_HUB_OFFLINE=1`` (how the services run), a pull downloads nothing and verifies
  the files already there: the offline check before starting a box.

An entry that was never locked cannot be pulled without ``--lock``: there is no checksum
to hold it to, and trusting the first download silently is what the manifest exists to avoid.

An entry may carry a ``convert`` step for weights that need converting before an engine loads
them (Breeze-ASR-25, published as a transformers Whisper, for faster-whisper's CTranslate2):
``{"command": [argv with {src} and {dest}], "local_dir": folder under models_dir}``. It runs
after the checksums passed, from the verified ``local_dir`` into a sibling temporary folder
that is moved into place with a marker naming the source commit; a converted folder with a
matching marker is not converted again (an offline pull verifies and keeps it).
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.download import ModelSetupError, sha256_file

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT / "models.lock.json"
PROFILES = ("cpu", "gpu")
CONVERTED_MARKER = ".avatar-converted.json"


class ChecksumMismatch(ModelSetupError):
    pass


@dataclass
class LockedFile:
    sha256: str
    size: int


@dataclass
class Conversion:
    """A command that turns the downloaded folder ``{src}`` into the folder ``{dest}`` an engine loads."""

    command: list[str]
    local_dir: str

    def argv(self, src: Path, dest: Path) -> list[str]:
        argv = [arg.replace("{src}", str(src)).replace("{dest}", str(dest)) for arg in self.command]
        if argv and os.sep not in argv[0]:  # a console script: this environment's first (the venv's)
            beside = Path(sys.executable).parent / argv[0]
            argv[0] = str(beside) if beside.exists() else (shutil.which(argv[0]) or argv[0])
        return argv


@dataclass
class ModelEntry:
    name: str
    repo: str
    revision: str
    allow: list[str]
    local_dir: str | None = None
    source: str = ""
    files: dict[str, LockedFile] = field(default_factory=dict)
    convert: Conversion | None = None

    @property
    def locked(self) -> bool:
        return bool(self.files) and len(self.revision) == 40

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "repo": self.repo, "revision": self.revision, "allow": self.allow, "local_dir": self.local_dir,
            "source": self.source,
        }
        if self.convert is not None:
            data["convert"] = {"command": self.convert.command, "local_dir": self.convert.local_dir}
        data["files"] = {p: {"sha256": f.sha256, "size": f.size} for p, f in sorted(self.files.items())}
        return data


@dataclass
class Manifest:
    path: Path
    about: str
    profiles: dict[str, list[str]]
    models: dict[str, ModelEntry]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelSetupError(f"cannot read the model manifest {path}: {exc}") from exc
        models = {
            name: ModelEntry(
                name=name, repo=m["repo"], revision=m.get("revision", "main"), allow=list(m.get("allow", ["*"])),
                local_dir=m.get("local_dir"), source=m.get("source", ""),
                files={p: LockedFile(f["sha256"], int(f["size"])) for p, f in (m.get("files") or {}).items()},
                convert=_conversion(name, m),
            )
            for name, m in raw["models"].items()
        }
        return cls(path=Path(path), about=raw.get("about", ""), profiles=raw["profiles"], models=models)

    def save(self) -> None:
        data = {
            "about": self.about, "profiles": self.profiles,
            "models": {name: entry.as_json() for name, entry in self.models.items()},
        }
        self.path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def entries(self, profile: str) -> list[ModelEntry]:
        if profile not in self.profiles:
            raise ModelSetupError(f"unknown profile {profile!r}; choose one of {', '.join(self.profiles)}")
        return [self.models[name] for name in self.profiles[profile]]


def _conversion(name: str, raw: dict[str, Any]) -> Conversion | None:
    spec = raw.get("convert")
    if spec is None:
        return None
    if not raw.get("local_dir") or not spec.get("command") or not spec.get("local_dir"):
        raise ModelSetupError(f"{name}: a convert step needs the entry's local_dir (its input) and its own "
                              "command and local_dir (its output)")
    return Conversion(command=[str(a) for a in spec["command"]], local_dir=str(spec["local_dir"]))


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - a core dependency of the local-llm extra
        raise ModelSetupError('pulling models needs huggingface_hub: pip install "avatar[local-llm]"') from exc
    return huggingface_hub


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _lock_entry(entry: ModelEntry, log: Callable[[str], None]) -> dict[str, int | str | None]:
    """Ask the Hub for the commit and its files; return {path: hub LFS sha256 or None}."""
    info = _hub().HfApi().model_info(entry.repo, revision=entry.revision, files_metadata=True)
    wanted: dict[str, int | str | None] = {}
    for sibling in info.siblings or []:
        if any(fnmatch.fnmatch(sibling.rfilename, pattern) for pattern in entry.allow):
            wanted[sibling.rfilename] = sibling.lfs.sha256 if sibling.lfs else None
    if not wanted:
        raise ModelSetupError(f"{entry.repo}@{entry.revision}: no file matches {entry.allow}")
    log(f"lock {entry.name}: {entry.repo}@{info.sha} ({len(wanted)} files)")
    entry.revision = info.sha
    return wanted


def _discard(path: Path) -> None:
    real = Path(os.path.realpath(path))
    for p in {real, path}:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def pull_entry(
    entry: ModelEntry, *, models_dir: Path, lock: bool = False, log: Callable[[str], None] = print
) -> list[Path]:
    hub = _hub()
    offline = _offline()
    if lock and offline:
        raise ModelSetupError("--lock needs the Hub: unset HF_HUB_OFFLINE")
    if not lock and not entry.locked:
        raise ModelSetupError(
            f"{entry.name} ({entry.repo}) has no locked checksums in the manifest yet: run "
            "`avatar models pull --profile <profile> --lock` once with internet access, review and "
            "commit models.lock.json"
        )
    hub_sums = _lock_entry(entry, log) if lock else {p: f.sha256 for p, f in entry.files.items()}
    local_dir = str(models_dir / entry.local_dir) if entry.local_dir else None
    paths: list[Path] = []
    locked: dict[str, LockedFile] = {}
    for filename, expected in sorted(hub_sums.items()):
        try:
            path = Path(
                hub.hf_hub_download(
                    entry.repo, filename, revision=entry.revision, local_dir=local_dir, local_files_only=offline,
                )
            )
        except Exception as exc:  # the hub raises several types (HTTP, offline, missing file)
            where = "the local cache (HF_HUB_OFFLINE is set)" if offline else "the Hub"
            raise ModelSetupError(
                f"{entry.name}: could not get {filename} from {where}: {type(exc).__name__}: {exc}"
            ) from exc
        actual = sha256_file(path)
        if expected is not None and actual != expected:
            _discard(path)
            raise ChecksumMismatch(
                f"SHA-256 mismatch for {entry.repo}/{filename}: expected {expected}, got {actual}. "
                "The file was deleted; run the pull again. If it fails again, the upstream file changed "
                "or the download is being tampered with: do not use it."
            )
        log(f"ok  {entry.name}: {filename} sha256={actual[:12]}…")
        locked[filename] = LockedFile(actual, path.stat().st_size)
        paths.append(path)
    if lock:
        entry.files = locked
    if entry.convert is not None and local_dir is not None:
        paths.append(convert_entry(entry, Path(local_dir), models_dir / entry.convert.local_dir, log=log))
    return paths


def convert_entry(entry: ModelEntry, src: Path, dest: Path, *, log: Callable[[str], None] = print) -> Path:
    """Run ``entry.convert`` from ``src`` into ``dest`` unless ``dest`` already holds this commit's
    conversion; the output appears whole or not at all."""
    assert entry.convert is not None
    marker = {"repo": entry.repo, "revision": entry.revision, "command": entry.convert.command}
    try:
        if json.loads((dest / CONVERTED_MARKER).read_text()) == marker:
            log(f"ok  {entry.name}: converted folder {dest} is current")
            return dest
    except (OSError, ValueError):
        pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    out = staging / "out"
    argv = entry.convert.argv(src, out)
    log(f"convert {entry.name}: {' '.join(argv)}")
    try:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ModelSetupError(f"{entry.name}: cannot run the conversion {argv[0]}: {exc}") from exc
        if done.returncode != 0 or not out.is_dir():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise ModelSetupError(f"{entry.name}: the conversion failed (exit {done.returncode}): "
                                  f"{' '.join(argv)}\n{tail}")
        (out / CONVERTED_MARKER).write_text(json.dumps(marker) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(out, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"ok  {entry.name}: converted into {dest}")
    return dest


def pull(
    profile: str,
    *,
    models_dir: Path,
    manifest_path: Path = DEFAULT_MANIFEST,
    lock: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, list[Path]]:
    manifest = Manifest.load(manifest_path)
    done: dict[str, list[Path]] = {}
    for entry in manifest.entries(profile):
        done[entry.name] = pull_entry(entry, models_dir=models_dir, lock=lock, log=log)
        if lock:  # save after every model: a later failure keeps the earlier locks
            manifest.save()
    return done


__all__ = ["ChecksumMismatch", "Conversion", "DEFAULT_MANIFEST", "Manifest", "ModelEntry", "convert_entry", "pull",
           "pull_entry"]
