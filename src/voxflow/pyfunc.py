"""Logging a voxflow model as an MLflow pyfunc model that loads where voxflow is not installed:
the package travels in the model folder (`code_paths`) and the pip requirements pin this
environment's versions of what the model imports."""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np


def log_pyfunc(model_class: type[mlflow.pyfunc.PythonModel], name: str,
               write_artifacts: Callable[[Path], dict[str, str]], input_example: np.ndarray,
               packages: Sequence[str], metadata: dict, params: dict | None = None) -> str:
    """Log `model_class()` as the pyfunc model `name` in the active MLflow run; returns its model
    URI (`models:/m-...`).

    `write_artifacts(folder)` writes the model's files into a temporary folder and returns them
    as {artifact name: path}, what `load_context` finds in `context.artifacts`. The signature is
    that of `input_example` and of the prediction for it, with `params` (their defaults), by a
    model loaded from those artifacts. `packages`: the distributions the requirements pin
    (without a local version label such as +cpu)."""
    import voxflow

    if mlflow.active_run() is None:
        raise RuntimeError(f"logging the pyfunc model {name!r} needs an active MLflow run: log "
                           "it inside mlflow.start_run() or voxflow.tracking.stage_run()")
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = write_artifacts(Path(tmp))
        model = model_class()
        model.load_context(mlflow.pyfunc.PythonModelContext(artifacts, None))
        signature = mlflow.models.infer_signature(
            input_example, model.predict(None, input_example, params), params=params)
        info = mlflow.pyfunc.log_model(
            name=name, python_model=model_class(), artifacts=artifacts, signature=signature,
            input_example=input_example, code_paths=[str(Path(voxflow.__file__).parent)],
            pip_requirements=[f"{p}=={version(p).split('+')[0]}" for p in packages],
            metadata=metadata)
    return info.model_uri
