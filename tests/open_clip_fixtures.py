"""A tiny random OpenCLIP model built with open_clip itself (the reference), saved as a checkpoint and a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["OPEN_CLIP_MISSING", "TINY_ARCH", "TinyOpenClip", "tiny_open_clip"]

TINY_ARCH = "shoal-tiny-openclip"
"""The architecture name the tiny config is registered under (open_clip.add_model_config)."""

# 2-layer towers of width 32, 32-pixel images, 16-d vectors; the vocabulary is CLIP's own
# (open_clip's SimpleTokenizer gives ids up to 49407).
_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}


def _open_clip_missing() -> str | None:
    """Why open_clip cannot be imported here, or None when it can."""
    try:
        import open_clip  # noqa: F401
    except Exception as exc:  # a torchvision built for another torch raises RuntimeError
        return (
            f"open_clip cannot be imported ({type(exc).__name__}: {exc}); "
            "pip install 'shoal[open_clip]' with a torchvision built for the installed torch"
        )
    return None


OPEN_CLIP_MISSING = _open_clip_missing()
"""None when open_clip imports; else the reason the tests that need it are skipped."""


@dataclass
class TinyOpenClip:
    """The tiny model as open_clip built it, and the files Shoal loads it from."""

    checkpoint: Path  # a torch state dict (.pt)
    folder: Path  # open_clip_config.json + open_clip_model.safetensors, as on the hub
    model: Any
    preprocess: Any
    tokenizer: Any

    def images(self, pictures: list[Any]) -> Any:
        """open_clip's own normalised image vectors (numpy)."""
        import torch

        with torch.no_grad():
            pixels = torch.stack([self.preprocess(p.convert("RGB")) for p in pictures])
            return self.model.encode_image(pixels, normalize=True).numpy()

    def texts(self, texts: list[str]) -> Any:
        """open_clip's own normalised text vectors (numpy)."""
        import torch

        with torch.no_grad():
            return self.model.encode_text(self.tokenizer(texts), normalize=True).numpy()


def tiny_open_clip(root: Path, *, seed: int = 0) -> TinyOpenClip:
    """Register the tiny architecture, build it with random weights, and save it two ways."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    config = root / f"{TINY_ARCH}.json"
    config.write_text(json.dumps(_CONFIG), encoding="utf-8")
    if TINY_ARCH not in open_clip.list_models():
        open_clip.add_model_config(config)
    torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_ARCH)
    model.eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    checkpoint = root / "tiny-openclip.pt"
    torch.save(state, checkpoint)
    folder = root / "tiny-openclip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": _CONFIG, "preprocess_cfg": {}}), encoding="utf-8"
    )
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return TinyOpenClip(checkpoint, folder, model, preprocess, open_clip.get_tokenizer(TINY_ARCH))
