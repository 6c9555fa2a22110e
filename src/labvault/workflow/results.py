"""``platform.results``: results at the bench and at the biologist's desk. Worklists and history
(workflow/worklist.py), entry (workflow/result_entry.py), then technical and biological validation
with the critical-value calls (workflow/validation.py), behind one name so that routes, commands
and tests keep calling ``platform.results.<method>``."""

from __future__ import annotations

from labvault.workflow.result_entry import ResultEntryService
from labvault.workflow.validation import ResultValidationService
from labvault.workflow.worklist import WorklistService


class ResultService(WorklistService, ResultEntryService, ResultValidationService):
    """Every result service on one lab-scoped wiring (:class:`WorkflowService`)."""
