"""Kubeflow Pipelines (v2) components: one per stage of `voxflow.stages`, plus the parent run.

Each is a lightweight Python component whose body imports `voxflow.stages` and calls the stage
function, so the cluster runs the same code as `dvc repro`. They run in the project's image
(`Dockerfile`), which already holds voxflow and kfp: nothing is pip-installed at run time.
"""
from __future__ import annotations

import os
from importlib.metadata import version

# the image built from the Dockerfile; VOXFLOW_IMAGE names another one (e.g. in a registry)
IMAGE = os.environ.get("VOXFLOW_IMAGE", f"voxflow:{version('voxflow')}")
