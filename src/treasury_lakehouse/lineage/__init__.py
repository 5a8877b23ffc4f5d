"""OpenLineage run events of the pipeline's steps (see docs/lineage.md).

One job per step: ``ingest.<dataset>``, ``silver.<dataset>``, ``gold``, ``check`` and ``load``,
each a child of the pipeline run. :class:`Lineage` is cheap to create and does nothing unless
the client's standard configuration is present (:func:`lineage_configured`).
"""

from treasury_lakehouse.lineage.emitter import Lineage, Step, lineage_configured, parent_run_id

__all__ = ["Lineage", "Step", "lineage_configured", "parent_run_id"]
