"""One process or many: the rank, world size and device that ``torchrun`` gives a process.

Training (``engine/trainer.py``) and prediction over many videos (``vidpose.pipeline.predict_folder``)
share it: ``torchrun --nproc_per_node N`` (and ``--nnodes`` for several machines) sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; without them a process is rank 0 of 1. The process group is
NCCL on GPUs and gloo on CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process, joining the process group when world > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def barrier() -> None:
    """Wait for every process (nothing to wait for in one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
