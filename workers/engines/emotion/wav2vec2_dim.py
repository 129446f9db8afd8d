"""audEERING's dimensional speech-emotion model (wav2vec2-large-robust fine-tuned on
MSP-Podcast: arousal, dominance, valence; valence CCC .638 in its model card; weights
CC-BY-NC-SA-4.0, so never in a commercial profile).

The architecture is the model card's: a ``Wav2Vec2Model`` whose last hidden states are
mean-pooled over time into a regression head (dense, tanh, dropout, a projection to three
outputs in the order arousal, dominance, valence). The head is defined here because the
checkpoint ships it as custom code; the loading is transformers' own ``from_pretrained`` of
the folder (``config.json``, weights, ``preprocessor_config.json``). torch and transformers
are imported inside: the ``avatar[local-llm]`` extra.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from avatar.settings import Settings
from workers.engines.base import Availability, EngineUnavailable
from workers.engines.emotion.base import DIMENSIONS, EmotionEngine

HUB_REPO = "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"
REQUIRED = ("config.json", "preprocessor_config.json")
LOCAL_FOLDER = "wav2vec2-msp-dim"  # under models_dir, as models.lock.json's entry puts it
INSTALL_HINT = (
    f"avatar models pull --profile emotion --lock (once, with internet: {HUB_REPO}, CC-BY-NC-SA-4.0 "
    "weights); or AVATAR_PROSODY_EMOTION_MODEL=<folder> for a model already on disk"
)

_LOADED: dict[str, tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def model_class() -> Any:
    """The model card's architecture as a transformers model class (built on first use, so
    importing this module needs neither torch nor transformers)."""
    import torch
    from transformers import Wav2Vec2Model, Wav2Vec2PreTrainedModel

    class RegressionHead(torch.nn.Module):
        def __init__(self, config: Any) -> None:
            super().__init__()
            self.dense = torch.nn.Linear(config.hidden_size, config.hidden_size)
            self.dropout = torch.nn.Dropout(config.final_dropout)
            self.out_proj = torch.nn.Linear(config.hidden_size, config.num_labels)

        def forward(self, x: Any) -> Any:
            return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(x)))))

    class EmotionModel(Wav2Vec2PreTrainedModel):
        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.wav2vec2 = Wav2Vec2Model(config)
            self.classifier = RegressionHead(config)
            self.post_init()

        def forward(self, input_values: Any) -> tuple[Any, Any]:
            hidden = self.wav2vec2(input_values)[0].mean(dim=1)
            return hidden, self.classifier(hidden)

    return EmotionModel


def _load(path: Path) -> tuple[Any, Any]:
    with _LOCK:
        if str(path) not in _LOADED:
            from transformers import Wav2Vec2FeatureExtractor

            model, info = model_class().from_pretrained(str(path), local_files_only=True, output_loading_info=True)
            if info["missing_keys"]:  # from_pretrained would leave them random and say nothing
                raise EngineUnavailable(
                    Wav2Vec2Dimensional.name,
                    f"{path} is not a dimensional emotion checkpoint (no {', '.join(sorted(info['missing_keys'])[:3])})",
                    INSTALL_HINT,
                )
            model.eval()
            _LOADED[str(path)] = (Wav2Vec2FeatureExtractor.from_pretrained(str(path), local_files_only=True), model)
        return _LOADED[str(path)]


class Wav2Vec2Dimensional(EmotionEngine):
    name: ClassVar[str] = "wav2vec2_msp_dim"
    licence: ClassVar[str] = "CC-BY-NC-SA-4.0"

    def __init__(self, settings: Settings) -> None:
        configured = settings.prosody_emotion_model
        self.path = Path(configured) if configured else settings.resolved_models_dir / LOCAL_FOLDER

    def availability(self) -> Availability:
        missing = [f for f in REQUIRED if not (self.path / f).is_file()]
        if not (self.path / "model.safetensors").is_file() and not (self.path / "pytorch_model.bin").is_file():
            missing.append("model weights")
        if missing:
            return Availability(False, f"{self.path}: missing {', '.join(missing)}", INSTALL_HINT)
        return Availability(True)

    def predict(self, samples: np.ndarray) -> dict[str, float]:
        ready = self.availability()
        if not ready.ok:
            raise EngineUnavailable(self.name, ready.reason, ready.fix)
        import torch

        extractor, model = _load(self.path)
        inputs = extractor(np.asarray(samples, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
        with torch.inference_mode():
            _, logits = model(inputs["input_values"])
        values = logits[0].clamp(0.0, 1.0).tolist()
        return {name: round(float(v), 4) for name, v in zip(DIMENSIONS, values)}
