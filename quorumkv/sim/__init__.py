"""Deterministic simulation: the real node logic on virtual time, a simulated
network and disk, one seed for everything (see run.py)."""

from .run import Result, Sim, simulate

__all__ = ["Result", "Sim", "simulate"]
