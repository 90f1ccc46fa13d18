"""Lifecycle values, defined once: the stages of experiments, runs and logged models, the view
types that select them, and the stages of a model version.

They are MLflow's own strings, on the wire and in stored rows: none may change.
"""

from __future__ import annotations

# experiments, runs and logged models
ACTIVE = "active"
DELETED = "deleted"

# which of them a search or list returns
ACTIVE_ONLY = "ACTIVE_ONLY"
DELETED_ONLY = "DELETED_ONLY"
ALL = "ALL"
VIEW_TYPES = (ACTIVE_ONLY, DELETED_ONLY, ALL)
VIEW_STAGES = {ACTIVE_ONLY: (ACTIVE,), DELETED_ONLY: (DELETED,), ALL: (ACTIVE, DELETED)}

# a model version's stage; a deleted version's row keeps DELETED_VERSION_STAGE
NO_STAGE = "None"
ARCHIVED = "Archived"
VERSION_STAGES = (NO_STAGE, "Staging", "Production", ARCHIVED)
ACTIVE_VERSION_STAGES = ("Staging", "Production")
DELETED_VERSION_STAGE = "Deleted_Internal"
