"""The registry gate on a real MLflow store: candidate every run, champion only when not worse."""
from __future__ import annotations

import math

import mlflow
import numpy as np
import pytest

from voxflow.registry import promote_if_not_worse, register
from voxflow.tracking import experiment_id


class _Gain(mlflow.pyfunc.PythonModel):
    def __init__(self, gain: float):
        self.gain = gain

    def predict(self, context, model_input, params=None):
        return np.asarray(model_input) * self.gain


def _logged_model(gain: float) -> str:
    with mlflow.start_run(experiment_id=experiment_id()):    # artifacts beside the store
        info = mlflow.pyfunc.log_model(name="model", python_model=_Gain(gain),
                                       input_example=np.ones((2, 3)))
    return info.model_uri


def test_champion_moves_only_to_a_version_that_is_not_worse(tracking):
    name = "voxflow-test-model"
    first = register(_logged_model(1.0), name, {"test_pesq": 2.0})
    assert promote_if_not_worse(name, first, "test_pesq")          # no champion yet
    worse = register(_logged_model(2.0), name, {"test_pesq": 1.5})
    assert not promote_if_not_worse(name, worse, "test_pesq")
    client = mlflow.MlflowClient()
    assert client.get_model_version_by_alias(name, "candidate").version == int(worse)
    assert client.get_model_version_by_alias(name, "champion").version == int(first)
    equal = register(_logged_model(3.0), name, {"test_pesq": 2.0})
    assert promote_if_not_worse(name, equal, "test_pesq")
    champion = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert champion.predict(np.ones((2, 3)))[0, 0] == 3.0
    nan = register(_logged_model(4.0), name, {"test_pesq": math.nan})
    assert not promote_if_not_worse(name, nan, "test_pesq")
    lower_is_better = register(_logged_model(5.0), name, {"test_pesq": 2.0, "mcd": 1.0})
    with pytest.raises(ValueError, match="has no 'mcd' tag"):
        promote_if_not_worse(name, lower_is_better, "mcd", higher_is_better=False)
