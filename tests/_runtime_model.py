"""A tiny randomly initialised BERT tagger saved as a serkit model directory (no download).

Shared by the runtime, ONNX and ``serkit tag`` tests; the session fixtures over it
(``tiny_dirs``, ``onnx_tagger``, ``torch_tagger``) live in ``conftest.py``. Small windows
(``max_length``) so that sentence windowing is exercised by ordinary test sentences.
"""

from __future__ import annotations

from pathlib import Path

from serkit.card import write_card
from serkit.labels import bio_labels

TYPES = ("Application", "Library", "Operating_System", "Device")
WORDS = (
    "i", "installed", "tensorflow", "on", "ubuntu", "with", "pip", "and", "ran", "it", "an",
    "nvidia", "a100", "the", "python", "library", "windows", "linux", "java", "code", "run",
    "uses", "for", "is", "of", "to", "in",
)  # fmt: skip


def build_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab: dict[str, int] = {}
    for tok in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        vocab[tok] = len(vocab)
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"()-_/+#@":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    tok.save(str(path / "tokenizer.json"))


def build_tiny_model(
    out: Path, *, max_length: int = 32, stride: int = 8, seed: int = 0, lexicon: bool = False
) -> Path:
    """Save a tiny BERT token classifier with case (and lexicon) features at ``out``."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from serkit.models.encoding import FeatureScheme

    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out)
    from tokenizers import Tokenizer

    vocab_size = Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab_size()
    labels = bio_labels(TYPES)
    scheme = FeatureScheme(case=True)
    if lexicon:
        from serkit.lexicon import Lexicon
        from serkit.tokens import Sentence

        lex = Lexicon.build(
            [
                Sentence(["TensorFlow", "on", "Ubuntu"], ["B-Library", "O", "B-Operating_System"]),
                Sentence(["NVIDIA", "A100", "runs"], ["B-Device", "I-Device", "O"]),
            ]
        )
        lex.save(out / "lexicon.tsv")
        scheme = FeatureScheme(
            case=True, lexicon=True, lexicon_tags=["O", *labels[1:]], lexicon_case="smart"
        )
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max(64, max_length),
        type_vocab_size=scheme.n_types,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    model = BertForTokenClassification(cfg).eval()
    with torch.no_grad():  # sharper logits: a random model that still tags plenty
        model.classifier.weight.mul_(20.0)
    model.config.serkit_features = scheme.to_dict()
    model.config.serkit_max_length = max_length
    model.config.serkit_stride = stride
    model.save_pretrained(str(out), safe_serialization=True)
    write_card(out, {"arch": "transformer", "labels": labels, "backbone": "tiny-random-bert"})
    return out


#: The vocabulary of :func:`tiny_backbone` (whole words plus their characters).
BACKBONE_WORDS = [
    "i",
    "use",
    "python",
    "and",
    "linux",
    "on",
    "my",
    "laptop",
    ".",
    "we",
    "wrote",
    "it",
    "in",
    "java",
    "with",
    "spring",
    "boot",
    ";",
    "the",
    "windows",
    "kernel",
    "runs",
    "numpy",
    "arrays",
    "quick",
    "sort",
    "over",
    "a",
    "hash",
    "table",
]


def tiny_backbone(root: Path) -> Path:
    """A random 2-layer BERT + WordPiece tokenizer saved like a hub model directory: the
    backbone of the training and transformer tests (``backbone`` fixture in conftest.py)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = root / "tiny-bert"
    out.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for w in sorted(set(BACKBONE_WORDS)):
        vocab.append(w)
    for w in sorted(set(BACKBONE_WORDS)):
        for ch in w:
            if ch not in vocab:
                vocab.append(ch)
            if f"##{ch}" not in vocab:
                vocab.append(f"##{ch}")
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )  # fmt: skip
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip
    fast.save_pretrained(out)
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, type_vocab_size=2,
    )  # fmt: skip
    BertModel(cfg).save_pretrained(out)
    return out
