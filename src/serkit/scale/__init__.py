"""Scaling out: tag or weak-label corpora with Ray Data, on all cores of one machine or on
a cluster.

``ray_tag`` is what ``serkit tag --engine ray`` runs, ``ray_weak_label`` what ``serkit
weak-label --engine ray`` runs (both ``run_job`` over a job of ``serkit.scale.jobs``);
``read_manifest`` reads the result of a run back in input order. Needs the ``scale``
extra (``pip install 'serkit[scale]'``); Ray is imported only when a run starts.
"""

from __future__ import annotations

from serkit.scale.engine import RunSummary, ray_tag, ray_weak_label, run_job
from serkit.scale.jobs import Job, TagJob, WeakLabelJob
from serkit.scale.manifest import MANIFEST, Manifest, read_manifest
from serkit.scale.shards import DOCS_PER_SHARD, Shard, plan

__all__ = [
    "DOCS_PER_SHARD",
    "MANIFEST",
    "Job",
    "Manifest",
    "RunSummary",
    "Shard",
    "TagJob",
    "WeakLabelJob",
    "plan",
    "ray_tag",
    "ray_weak_label",
    "read_manifest",
    "run_job",
]
