"""One of two distributions whose entry point is named ``twin``."""

from unfreeze_core import FixedEpoch, hookimpl


class TwinB(FixedEpoch):
    type_name = "twin_b"


@hookimpl
def register_policies(register):
    register(TwinB.type_name, TwinB)
