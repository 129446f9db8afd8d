"""espeak-ng Mandarin (``-v cmn``): real, weight-free, on any CPU.

The interim voice until the cloned tiers exist; it ignores the voice reference.
"""

from __future__ import annotations

import shutil
import subprocess

from avatar.audio import decode_wav
from workers.engines.base import Availability, EngineUnavailable, TransientEngineError
from workers.engines.tts.base import SynthesizedClip, TTSEngine, VoiceReference

INSTALL_HINT = "apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng (macOS)"


class EspeakTTS(TTSEngine):
    name = "espeak"

    def _binary(self) -> str | None:
        return shutil.which("espeak-ng")

    def availability(self) -> Availability:
        if self._binary() is None:
            return Availability(False, "espeak-ng is not installed", INSTALL_HINT)
        return Availability(True)

    def synthesize(
        self, text: str, *, voice: VoiceReference | None = None, style: str | None = None
    ) -> SynthesizedClip:
        binary = self._binary()
        if binary is None:
            raise EngineUnavailable(self.name, "espeak-ng is not installed", INSTALL_HINT)
        cmd = [
            binary, "-v", self.settings.espeak_voice, "-s", str(self.settings.espeak_words_per_minute),
            "--stdout", "--stdin",
        ]
        try:
            # Text goes through stdin so a reply starting with "-" is never read as an option.
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise TransientEngineError("espeak-ng timed out") from exc
        if proc.returncode != 0 or not proc.stdout:
            raise RuntimeError(f"espeak-ng failed: {proc.stderr.decode(errors='replace')[:300]}")
        samples, sr = decode_wav(proc.stdout)
        return SynthesizedClip(samples=samples, sample_rate=sr)
