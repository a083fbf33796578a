"""No approval: the step trains on the environment's own (observed) reward.

With the full horizon this is ordinary RL; with a finite horizon M it is the myopic floor
(M = 1: a step is credited only with its own reward, so nothing that pays later is learned).
"""

from __future__ import annotations

import dataclasses

from monarl.core.protocols import ApprovalSpec, Family


@dataclasses.dataclass(frozen=True)
class NoApprovalSettings:
    """No settings."""


SPEC = ApprovalSpec(
    name="none",
    summary="No approval: the observed reward alone (ordinary RL with horizon none; the myopic "
            "floor with a finite horizon).",
    settings=NoApprovalSettings,
    build=lambda ctx, settings: None,
    family=lambda settings: Family("none", None, "no approval", "#9e9e9e"),
)
