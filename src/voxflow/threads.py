"""torch's CPU threads of a stage, from its params.yaml section: a model trained on other
threads sums in another order and differs from its first steps on, so the count is a param
rather than the machine's number of cores."""
from __future__ import annotations


def use_threads(threads: int) -> None:
    """Run torch's CPU operators of this process on `threads` threads (0 keeps torch's default,
    the number of cores)."""
    import torch

    if threads < 0:
        raise ValueError(f"threads must be 0 (torch's default) or more, got {threads}")
    if threads > 0:
        torch.set_num_threads(threads)
