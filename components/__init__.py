"""Kubeflow Pipelines (v2) components: `<system>.py` holds one component per stage of
`voxflow.<system>.stages`, `registry.py` the shared promote, `tracking.py` the parent run.

Each is a lightweight Python component whose body calls `voxflow.tracking.enter_kfp_task` with
its tracking arguments and then the stage function, so the cluster runs the same code as
`dvc repro`. A system's params.yaml section arrives as JSON text (`options_json`: a KFP struct
parameter would carry the integer steps and seeds as floats). They run in the project's image
(`Dockerfile`), which already holds voxflow and kfp: nothing is pip-installed at run time.
"""
from __future__ import annotations

import os
from importlib.metadata import version

# the image built from the Dockerfile; VOXFLOW_IMAGE names another one (e.g. in a registry)
IMAGE = os.environ.get("VOXFLOW_IMAGE", f"voxflow:{version('voxflow')}")
