"""Fixtures of the spoofing detector's tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread for the test: small networks, figures that do not depend on the core
    count, and no contention with a second pytest worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
