"""Scaling out: tag corpora with Ray Data, on all cores of one machine or on a cluster.

``ray_tag`` is what ``serkit tag --engine ray`` runs; ``read_manifest`` reads the result
of a run back in input order. Needs the ``scale`` extra (``pip install 'serkit[scale]'``);
Ray is imported only when a run starts.
"""

from __future__ import annotations

from serkit.scale.engine import RunSummary, ray_tag
from serkit.scale.manifest import MANIFEST, Manifest, read_manifest
from serkit.scale.shards import DOCS_PER_SHARD, Shard, plan

__all__ = [
    "DOCS_PER_SHARD",
    "MANIFEST",
    "Manifest",
    "RunSummary",
    "Shard",
    "plan",
    "ray_tag",
    "read_manifest",
]
