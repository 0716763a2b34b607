"""Shipping a model: package layouts per server, a local model server, and checks of a live endpoint."""

from __future__ import annotations

from converter.deploy.package import PackageResult, layouts, package

__all__ = ["package", "PackageResult", "layouts"]
