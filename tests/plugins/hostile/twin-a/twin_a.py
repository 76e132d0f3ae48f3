"""One of two distributions whose entry point is named ``twin``."""

from unfreeze_core import FixedEpoch, hookimpl


class TwinA(FixedEpoch):
    type_name = "twin_a"


@hookimpl
def register_policies(register):
    register(TwinA.type_name, TwinA)
