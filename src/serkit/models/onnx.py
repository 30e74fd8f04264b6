"""The transformer tagger on ONNX Runtime: no torch at inference, int8 when quantised.

Inputs are built by :mod:`serkit.models.encoding`, the same code the torch tagger and the
trainer use, so the two runtimes differ only in the graph arithmetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from serkit.devices import CUDA_EP, is_cuda, onnx_providers
from serkit.errors import ModelLoadError
from serkit.models import folder
from serkit.models.encoding import (
    Encoder,
    FeatureScheme,
    check_decoding,
    load_tokenizer,
)
from serkit.models.folder import ONNX_FP32, ONNX_INT8
from serkit.models.lexicons import LexiconFeature, load_lexicons
from serkit.models.windowed import WindowedTagger

#: What :meth:`Encoder.pad` feeds a graph.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def find_onnx(model_dir: str | Path, prefer: str = "auto") -> Path | None:
    """The ONNX graph of a model directory: int8 first unless ``prefer`` says fp32."""
    d = Path(model_dir)
    for name in folder.onnx_names(prefer):
        if (d / name).is_file():
            return d / name
    return None


def build_encoder(
    model_dir: Path, config: dict[str, Any], card: dict[str, Any] | None = None
) -> tuple[Encoder, LexiconFeature | None]:
    """The encoder a saved model was trained with (tokenizer, windows, feature ids) and its
    lexicons; its files are checked against ``card``.

    Mirrors ``TransformerTagger.__init__`` without importing torch.
    """
    scheme = FeatureScheme.from_dict(config.get("serkit_features"))
    lexicons = None
    if scheme.lexicon:
        lexicons = load_lexicons(model_dir, config, card, scheme.matcher_options())
    tokenizer = load_tokenizer(model_dir, card)
    encoder = Encoder(
        tokenizer,
        max_length=int(config.get("serkit_max_length", 256)),
        stride=int(config.get("serkit_stride", 64)),
        scheme=scheme,
        lexicon_tagger=lexicons.initial_tagger() if lexicons is not None else None,
    )
    return encoder, lexicons


class OnnxTagger(WindowedTagger):
    """A transformer tagger exported by ``serkit export onnx``.

    ``threads`` sets ONNX Runtime's intra-op threads (0 = one per core).
    ``max_tokens`` bounds the padded sub-tokens per run; the default on the CPU, 0, runs
    one window at a time (on a GPU: 8192): on this 2-core CPU it was as fast as or faster
    than batches of length-sorted windows (no padding), and it makes int8 results
    independent of what else is in the batch (dynamic quantisation scales each run's
    activations as a whole), so ``tagger(text)`` and ``tagger.pipe(texts)`` agree exactly.
    ``device`` picks the execution providers (:func:`serkit.devices.onnx_providers`):
    ``cuda`` needs the ``onnxruntime-gpu`` wheel.
    """

    def __init__(
        self,
        model_dir: str | Path,
        onnx_file: str | Path | None = None,
        *,
        card: dict[str, Any] | None = None,
        threads: int = 0,
        max_tokens: int | None = None,
        decoding: str = "viterbi",
        device: str | None = "cpu",
    ) -> None:
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        self.card = card if card is not None else folder.read_card(self.model_dir)
        path = Path(onnx_file) if onnx_file else find_onnx(self.model_dir)
        if path is None or not path.is_file():
            raise ModelLoadError(f"{self.model_dir}: no {ONNX_INT8} or {ONNX_FP32}")
        if path.parent.resolve() != self.model_dir.resolve():
            raise ModelLoadError(f"{path}: an ONNX graph is read from its model folder only")
        self.onnx_path = path
        config = folder.read_config(self.model_dir)  # refuses an auto_map
        try:
            id2label = config["id2label"]
            self.labels = [id2label[str(i)] for i in range(len(id2label))]
        except (OSError, ValueError, KeyError, TypeError) as e:
            what = f"{type(e).__name__}: {e}" if isinstance(e, KeyError | TypeError) else e
            raise ModelLoadError(f"{self.model_dir}: bad or missing config.json: {what}") from e
        self.encoder, self.lexicons = build_encoder(self.model_dir, config, self.card)
        # The graph's bytes are checked against the card and handed to ONNX Runtime as they
        # are: its protobuf parser never sees an unchecked file.
        graph = folder.read_verified(self.model_dir, path.name, self.card, folder.MAX_GRAPH_BYTES)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = onnx_providers(device)
        try:
            self.session = ort.InferenceSession(graph, opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own unexported exception types
            raise ModelLoadError(f"{path}: cannot load the ONNX graph: {e}") from e
        # ONNX Runtime falls back to the CPU with only a logged warning when CUDA fails.
        on_gpu = CUDA_EP in self.session.get_providers()
        if is_cuda(device) and not on_gpu:
            raise ModelLoadError(f"{path}: ONNX Runtime could not start {CUDA_EP} ({device})")
        self.device = f"cuda:{providers[0][1]['device_id']}" if on_gpu else "cpu"
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._check_graph(path)
        if max_tokens is None:  # a GPU wants many windows per run
            max_tokens = 0 if self.device == "cpu" else 8192
        self.max_tokens = int(max_tokens)
        self.decoding = check_decoding(decoding)
        self.init_heads(config)

    def _check_graph(self, path: Path) -> None:
        """Refuse, at load, a graph that does not fit ``config.json`` (another model's
        graph, a hand-edited label list), rather than fail on the first text."""
        extra = set(self.input_names) - set(INPUT_NAMES)
        if extra:
            raise ModelLoadError(f"{path}: not a serkit graph: unexpected inputs {sorted(extra)}")
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if "logits" not in outputs:
            raise ModelLoadError(f"{path}: not a serkit graph: no 'logits' output")
        n = outputs["logits"][-1] if outputs["logits"] else None
        if isinstance(n, int) and n != len(self.labels):
            raise ModelLoadError(
                f"{path}: the graph scores {n} labels but config.json lists {len(self.labels)}"
            )

    @property
    def runtime(self) -> str:
        return "onnx-int8" if self.onnx_path.name == ONNX_INT8 else "onnx"

    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        feed = {k: inputs[k] for k in self.input_names}
        return self.session.run(["logits"], feed)[0]
