"""The shared registry gate (`voxflow.stages.promote`) as a KFP component."""
from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def promote(system: str, decision: Input[Artifact], outcome: Output[Artifact],
            mlflow_tracking_uri: str, parent_run_id: str, kfp_run_id: str):
    """Move `system`'s @champion to the candidate of `decision` (its register component's)
    when the gate metric is not worse; `outcome` is the decision JSON with `promoted`."""
    from pathlib import Path

    from voxflow import stages
    from voxflow.tracking import enter_kfp_task

    enter_kfp_task(mlflow_tracking_uri, parent_run_id, kfp_run_id)
    stages.promote(system, Path(decision.path), Path(outcome.path))
