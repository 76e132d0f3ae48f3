"""Which Keras the driver supports, checked at train begin.

The driver reaches into a few Keras internals (:mod:`.internals`). At train begin
:func:`check_keras` warns when the installed Keras is outside :data:`SUPPORTED_KERAS`,
and refuses, with a :class:`~unfreeze_core.errors.DriverError` that names them, when a
private name the driver needs is missing (rather than failing with an
``AttributeError`` from deep inside a traced step).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import keras

from ..errors import DriverError, UnfreezeWarning
from .internals import missing

__all__ = ["SUPPORTED_KERAS", "check_keras", "keras_version", "supported"]

#: The Keras releases the driver is tested with: ``(first, end)`` as (major, minor),
#: the end excluded.
SUPPORTED_KERAS: tuple[tuple[int, int], tuple[int, int]] = ((3, 15), (3, 16))

def keras_version() -> str:
    """The installed Keras version (``keras.__version__``)."""
    return str(keras.__version__)


def _supported_text() -> tuple[str, str]:
    """``("3.15.x", "keras>=3.15,<3.16")``: the range for people, and as a requirement."""
    (major, minor), (end_major, end_minor) = SUPPORTED_KERAS
    spec = f"keras>={major}.{minor},<{end_major}.{end_minor}"
    if (end_major, end_minor) == (major, minor + 1):
        return f"{major}.{minor}.x", spec
    return spec[len("keras"):], spec


def supported(version: str | None = None) -> bool:
    """Whether Keras ``version`` (default: the installed one) is in :data:`SUPPORTED_KERAS`."""
    found = re.match(r"(\d+)\.(\d+)", version or keras_version())
    if found is None:
        return False
    key = (int(found.group(1)), int(found.group(2)))
    first, end = SUPPORTED_KERAS
    return first <= key < end


def check_keras(optimizer: Any, model: Any) -> None:
    """At train begin: warn outside the supported Keras releases; refuse when a private
    name the driver needs is missing.

    Raises:
        DriverError: naming the missing names, the installed Keras and the supported range.
    """
    version, (wanted, spec) = keras_version(), _supported_text()
    absent = missing(optimizer, model)
    if absent:
        raise DriverError(
            f"Keras {version} lacks {', '.join(absent)}, which the unfreeze_core driver uses "
            f"(it supports Keras {wanted}); pip install '{spec}', or an "
            "unfreeze-core release that supports this Keras"
        )
    if not supported(version):
        warnings.warn(
            UnfreezeWarning(
                f"ProgressiveUnfreezing is tested with Keras {wanted}, the installed Keras is "
                f"{version}: it reaches into a few Keras internals that may have changed; "
                f"if training misbehaves, pip install '{spec}'"
            ),
            stacklevel=3,
        )
