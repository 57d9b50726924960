"""himpc: Hi-MPC (Rao, Leung, Miao, IJCV 2023) — unsupervised person re-ID from 3D skeletons."""

__version__ = "0.1.0"

from . import cpu as _cpu  # noqa: F401,E402  (CPU speed settings, see himpc/cpu.py)
