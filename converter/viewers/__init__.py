"""Viewers: a self-contained HTML report, TensorBoard event files and Model Explorer overlays."""
