"""Token classification over a Hugging Face encoder, with casing/lexicon features.

The saved model is a plain ``*ForTokenClassification`` (``id2label`` set), so
``AutoModelForTokenClassification.from_pretrained(dir)`` loads it and ONNX export is the
standard one. The only addition is a larger token-type embedding table: the word's
(case class, lexicon-match tag) pair is fed as its ``token_type_ids`` (see
:mod:`serkit.models.encoding`); the scheme is recorded in ``config.json`` under
``serkit_features`` so every runtime computes the same ids.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from serkit.devices import torch_device, torch_dtype
from serkit.errors import ModelLoadError, SerkitError
from serkit.models import folder
from serkit.models.encoding import (
    Encoder,
    FeatureScheme,
    check_decoding,
    load_tokenizer,
)
from serkit.models.lexicons import LexiconFeature, load_lexicons
from serkit.models.windowed import WindowedTagger

TOKENIZER_FILES = folder.TOKENIZER_FILES


def type_embeddings(model: nn.Module) -> nn.Embedding | None:
    emb = getattr(model.base_model, "embeddings", None)
    return getattr(emb, "token_type_embeddings", None)


def build_model(
    backbone_dir: str,
    labels: Sequence[str],
    scheme: FeatureScheme,
    dropout: float | None = None,
    *,
    max_length: int = 256,
    stride: int = 64,
    num_layers: int | None = None,
) -> nn.Module:
    """A token classifier initialised from ``backbone_dir`` with ``scheme.n_types`` token types.

    ``num_layers`` keeps the first N encoder layers (transformers drops the rest on load).
    New token-type rows start as copies of the pretrained row 0, so at step 0 the
    features change nothing and the model equals the plain pretrained encoder.
    """
    from transformers import AutoConfig, AutoModelForTokenClassification

    kw: dict[str, Any] = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {lab: i for i, lab in enumerate(labels)},
    }
    if dropout is not None:
        kw["hidden_dropout_prob"] = dropout
    if Path(backbone_dir).is_dir():  # a hub name: transformers refuses remote code itself
        folder.torch_weights(backbone_dir)
    try:
        config = AutoConfig.from_pretrained(backbone_dir, trust_remote_code=False, **kw)
        if num_layers is not None:
            have = int(getattr(config, "num_hidden_layers", 0) or 0)
            if not have:
                raise SerkitError(f"backbone {backbone_dir!r} has no num_hidden_layers to cut")
            if num_layers > have:
                raise SerkitError(f"num_layers={num_layers} but {backbone_dir!r} has {have}")
            config.num_hidden_layers = num_layers
        model = AutoModelForTokenClassification.from_pretrained(
            backbone_dir, config=config, use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load backbone {backbone_dir!r}: {e}") from e
    emb = type_embeddings(model)
    if scheme.n_types > 1:
        if emb is None:
            raise SerkitError(
                f"backbone {backbone_dir!r} has no token-type embeddings; "
                "train with features = [] instead"
            )
        new = nn.Embedding(scheme.n_types, emb.embedding_dim)
        with torch.no_grad():
            new.weight.copy_(emb.weight[0].expand(scheme.n_types, -1))
        model.base_model.embeddings.token_type_embeddings = new
        model.config.type_vocab_size = scheme.n_types
        buf = getattr(model.base_model.embeddings, "token_type_ids", None)
        if buf is not None:
            buf.zero_()
    model.config.serkit_features = scheme.to_dict()
    model.config.serkit_max_length = max_length
    model.config.serkit_stride = stride
    return model


def save_tokenizer(src_dir: str, out_dir: Path) -> None:
    """Copy the backbone's tokenizer files (or save them via transformers for hub names)."""
    src = Path(src_dir)
    if (src / folder.TOKENIZER).is_file():
        for name in TOKENIZER_FILES:
            if (src / name).is_file():
                shutil.copyfile(src / name, out_dir / name)
        return
    from transformers import AutoTokenizer

    if src.is_dir():
        folder.check_transformers_folder(src)
    AutoTokenizer.from_pretrained(src_dir, trust_remote_code=False).save_pretrained(out_dir)


class TransformerTagger(WindowedTagger):
    """A fine-tuned encoder on torch; see :func:`TransformerTagger.load`.

    ``max_tokens`` bounds the padded sub-tokens per forward pass (default: 512 on the CPU,
    8192 on a GPU). Small runs are faster on CPU: activations stay in cache. On the W1
    model with one thread, 256-512 ran about twice as fast as 8192 (words/CPU-s, 160
    WikiSER test sentences); the trainer passes a larger value for its evaluations.
    ``device`` (:mod:`serkit.devices`) moves the model there; ``None`` leaves it where it
    is (the trainer's model). ``dtype`` (``fp16``, ``bf16``) casts the weights; logits come
    back to the CPU in fp32 for decoding.
    """

    runtime = "torch"  # type: ignore[assignment]

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        *,
        lexicon=None,
        lexicons: LexiconFeature | None = None,
        card: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        threads: int | None = None,
        decoding: str = "viterbi",
        device: str | None = None,
        dtype: str | None = None,
    ) -> None:
        cfg = model.config
        if device is not None:
            model = model.to(torch_device(device))
        if dtype is not None:
            model = model.to(torch_dtype(dtype))
        self.model = model.eval()
        self.torch_device = next(model.parameters()).device
        self.device = str(self.torch_device)
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]
        self.card = card or {}
        self.scheme = FeatureScheme.from_dict(getattr(cfg, "serkit_features", None))
        if lexicons is None and lexicon is not None:
            lexicons = LexiconFeature(lexicon, {}, self.scheme.matcher_options())
        self.lexicon = lexicons.merged if lexicons is not None else None
        if self.scheme.lexicon and lexicons is None:
            raise ModelLoadError("model uses lexicon features but no lexicon was given")
        self.lexicons = lexicons
        self.encoder = Encoder(
            tokenizer,
            max_length=int(getattr(cfg, "serkit_max_length", 256)),
            stride=int(getattr(cfg, "serkit_stride", 64)),
            scheme=self.scheme,
            lexicon_tagger=lexicons.initial_tagger() if lexicons and self.scheme.lexicon else None,
        )
        if max_tokens is None:
            max_tokens = 512 if self.torch_device.type == "cpu" else 8192
        self.max_tokens = max_tokens
        self.threads = threads
        self.decoding = check_decoding(decoding)
        self.init_heads(cfg.to_dict())

    @classmethod
    def load(cls, model_dir: str | Path, **kw: Any) -> TransformerTagger:
        from transformers import AutoModelForTokenClassification

        model_dir = Path(model_dir)
        if kw.get("device") is not None:
            torch_device(kw["device"])  # no GPU where one is asked for: say so before loading
        card = kw.pop("card", None)  # the registry has read it already
        if card is None:
            card = folder.read_card(model_dir) if (model_dir / folder.CARD_NAME).is_file() else {}
        # Nothing runs from the folder, nothing is unpickled, every weight file matches
        # the card's checksum before transformers opens it.
        folder.checked_torch_weights(model_dir, card)
        tokenizer = load_tokenizer(model_dir, card)
        try:
            # a weight file with missing or misshapen tensors would otherwise load with
            # random weights and only a printed report.
            model, info = AutoModelForTokenClassification.from_pretrained(
                str(model_dir),
                use_safetensors=True,
                trust_remote_code=False,
                local_files_only=True,
                output_loading_info=True,
            )
        except (OSError, ValueError, Exception) as e:  # transformers raises many kinds
            raise ModelLoadError(f"{model_dir}: cannot load transformer model: {e}") from e
        bad = sorted(info.get("missing_keys") or []) + [
            str(m[0]) if isinstance(m, tuple) else str(m) for m in info.get("mismatched_keys") or []
        ]
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ModelLoadError(
                f"{model_dir}: model.safetensors lacks or misshapes {len(bad)} weight(s): {shown}"
            )
        lexicons = None
        if (model_dir / folder.LEXICON).is_file():
            config = model.config.to_dict()
            options = FeatureScheme.from_dict(config.get("serkit_features")).matcher_options()
            lexicons = load_lexicons(model_dir, config, card, options)
        return cls(model, tokenizer, lexicons=lexicons, card=card, **kw)

    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            dev = self.torch_device
            out = self.model(**{k: torch.from_numpy(v).to(dev) for k, v in inputs.items()})
        return out.logits.float().cpu().numpy()

    def _before_run(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        self.model.eval()

    def save(self, out_dir: str | Path, tokenizer_src: str | Path | None = None) -> None:
        """Write weights (safetensors), config, tokenizer files and lexicons (not the card)
        into ``out_dir``, a folder that a caller stages (``folder.staged``) and then gives
        its card; written straight into a used folder, an older model's other files would
        stay."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out), safe_serialization=True)
        if tokenizer_src is not None:
            save_tokenizer(str(tokenizer_src), out)
        if self.lexicons is not None:
            self.lexicons.save(out)
