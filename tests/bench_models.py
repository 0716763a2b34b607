"""Models for the bench tests: a small MLP, the same one sleeping in forward, one that holds 500 MB unused."""

from __future__ import annotations

import time

import torch
from torch import nn

SLEEP_SECONDS = 0.02
BALLAST_MB = 500


class MLP(nn.Module):
    """x[batch, 16] -> 32 -> 4, seeded."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class SleepyMLP(MLP):
    """The MLP, with a sleep in forward: its source runs slower; what is exported does not sleep."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(SLEEP_SECONDS)
        return super().forward(x)


class BallastMLP(MLP):
    """The MLP, holding BALLAST_MB of touched memory that forward never uses (so no export keeps it)."""

    def __init__(self) -> None:
        super().__init__()
        self.ballast = torch.ones(BALLAST_MB * 2**20 // 4)  # ones, not empty: the pages are resident


def _example() -> torch.Tensor:
    return torch.randn(2, 16, generator=torch.Generator().manual_seed(1))


def mlp():
    return MLP().eval(), (_example(),)


def sleepy():
    return SleepyMLP().eval(), (_example(),)


def ballast():
    return BallastMLP().eval(), (_example(),)
