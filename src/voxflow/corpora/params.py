"""params.yaml's `synth` and `ingest` sections."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voxflow.stage_io import parse


@dataclass(frozen=True)
class SynthParams:
    size: str           # tiny (the embedded default), small, medium
    seed: int
    workers: int = 0    # processes; 0 = all cores (the corpora do not depend on it)
    sizes: dict[str, str] = field(default_factory=dict)     # corpus -> its size, over `size`

    def size_of(self, corpus: str) -> str:
        return self.sizes.get(corpus, self.size)


def synth_params(section: dict) -> SynthParams:
    return parse(SynthParams, section, "params.yaml synth")


def ingest_options(section: dict, corpus: str) -> dict[str, Any]:
    """A corpus's `ingest` options: the keyword arguments of its `prepare_*` (which types and
    checks them), recorded as given in the manifest's metadata."""
    return parse(dict[str, Any], section.get(corpus) or {}, f"params.yaml ingest.{corpus}")
