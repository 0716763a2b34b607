"""Pre-deployment validation: compare the Runners it is handed (converter.core.runners), per device.

Sources and targets bring the Runner for what they load or write. The modules read down the data flow:
``samples`` (what the sides run on), ``engine`` (compare the sides), ``metrics`` and ``tolerance`` (how close is
close), ``noise`` (a sample's own float32 noise floor), ``verdicts`` (passed, failed, inconclusive,
failed-to-run, and the mismatch diagnosis), ``locate`` (the first divergent node), ``report`` and ``plot``
(what is written). Importing the
package loads none of them.
"""

from __future__ import annotations

__all__: list[str] = []
