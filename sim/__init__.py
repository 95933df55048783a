"""Cycle-level performance models."""
