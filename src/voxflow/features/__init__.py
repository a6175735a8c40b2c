"""Acoustic features shared by the pipelines and the tests."""
from voxflow.features.pitch import estimate_f0
from voxflow.features.spectral import lfcc, mfcc

__all__ = ["estimate_f0", "lfcc", "mfcc"]
