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


@pytest.fixture(scope="session")
def voxflow_ssl_dir(tmp_path_factory):
    """An anon-ssl stage's folder holding a small randomly initialised voxflow SSL encoder
    (2 layers, 32-d): the file format of the SSL front-end's preset voxflow."""
    from dataclasses import replace

    from voxflow.anonymization.ssl import MODELS, SSL_FILE, new_encoder, save_encoder

    config = replace(MODELS["tiny"], conv_channels=16, dim=32, layers=2, heads=2, ffn_dim=64,
                     pos_conv_kernel=8, pos_conv_groups=4)
    folder = tmp_path_factory.mktemp("anonymization-ssl")
    save_encoder(new_encoder(config, seed=0), folder / SSL_FILE)
    return folder
