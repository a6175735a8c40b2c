"""torch's CPU threads of a stage (voxflow.threads.use_threads)."""
from __future__ import annotations

import pytest
import torch

from voxflow.threads import use_threads


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_count_sets_torch_threads():
    use_threads(1)
    assert torch.get_num_threads() == 1


def test_zero_keeps_torch_default():
    use_threads(0)
    assert torch.get_num_threads() == 2


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="threads must be 0"):
        use_threads(-1)
