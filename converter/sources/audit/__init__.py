"""Audits of model graphs before anything runs them: findings, allowlists, and one module per format."""

from __future__ import annotations

from converter.sources.audit.findings import Audit, Finding, UntrustedCodeError, enforce, trusted_notes

__all__ = ["Audit", "Finding", "UntrustedCodeError", "enforce", "trusted_notes"]
