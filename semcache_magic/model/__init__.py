"""The model stage: Claude adapts a reference, writes fresh code, or repairs a failure.

:class:`ClaudeAdapter` is the only user of the anthropic SDK (imported on the
first call). The prompts and the reading of answers are in ``_prompts``; token
usage and cost estimates in ``_usage``; what may cross to the model and back (requests
redacted, answers capped) in ``_boundary``.
"""

from __future__ import annotations

from ._adapter import Adaptation, ClaudeAdapter, CodeContext
from ._prompts import SYSTEM_PROMPT, UNCHANGED_TOKEN, extract_code, extract_section
from ._usage import Usage, avoided_cost, estimate_cost

__all__ = [
    "SYSTEM_PROMPT",
    "UNCHANGED_TOKEN",
    "Adaptation",
    "ClaudeAdapter",
    "CodeContext",
    "Usage",
    "avoided_cost",
    "estimate_cost",
    "extract_code",
    "extract_section",
]
