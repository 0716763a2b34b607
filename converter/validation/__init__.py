"""Pre-deployment validation: a model against its source framework (or another model), per device.

The modules read down the data flow: ``runners`` (one Runner type for everything that runs a model),
``samples`` (what it runs on), ``engine`` (compare the sides), ``metrics`` and ``tolerance`` (how close is
close), ``noise`` (a sample's own float32 noise floor), ``verdicts`` (passed, failed, inconclusive,
failed-to-run, and the mismatch diagnosis), ``locate`` (the first divergent node), ``report`` and ``plot``
(what is written). Importing the
package loads none of them.
"""

from __future__ import annotations

__all__: list[str] = []
