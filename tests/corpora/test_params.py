"""params.yaml's `synth` section: one size for every corpus, overridden per corpus."""
from __future__ import annotations

import pytest

from voxflow.corpora.params import synth_params


def test_a_corpus_size_overrides_the_shared_one():
    params = synth_params({"size": "tiny", "seed": 0, "sizes": {"grid": "small"}})
    assert (params.size_of("grid"), params.size_of("noise")) == ("small", "tiny")


def test_sizes_must_map_corpora_to_names():
    with pytest.raises(ValueError, match="synth.sizes"):
        synth_params({"size": "tiny", "seed": 0, "sizes": ["small"]})
