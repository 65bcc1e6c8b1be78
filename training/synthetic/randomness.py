"""Seeded random streams: one independent generator per generation stage."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, stage: str) -> np.random.Generator:
    """A PCG64 generator for `stage`, derived from `seed`.

    Each stage draws from its own stream, so changing how one stage samples (or how many numbers
    it draws) leaves every other stage's draws, and so the rest of the world, unchanged.
    """
    key = zlib.crc32(stage.encode())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))
