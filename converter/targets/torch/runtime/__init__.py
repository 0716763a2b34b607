"""What the generated PyTorch modules call at run time, one module per op family (as in ops/)."""

from __future__ import annotations

__all__: list[str] = []
