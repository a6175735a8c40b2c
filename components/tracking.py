"""The parent MLflow run of one pipeline run: started first, ended by the exit handler.

KFP forbids an exit task to take another task's output, so `end_parent_run` finds the parent
by its tags (pipeline name, KFP run id) rather than by the id `start_parent_run` returned.
"""
from kfp import dsl

from components import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def start_parent_run(pipeline_name: str, mlflow_tracking_uri: str, kfp_run_id: str) -> str:
    """Create the parent run under which the stages nest, left RUNNING; returns its id."""
    import os

    from mlflow import MlflowClient

    from voxflow import tracking

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    # a client run, not `tracking.pipeline_run`: it must outlive this task's process
    run = MlflowClient(tracking.tracking_uri()).create_run(
        tracking.experiment_id(tracking.EXPERIMENT), run_name=pipeline_name,
        tags={"voxflow.pipeline": pipeline_name, "kfp.run_id": kfp_run_id})
    return run.info.run_id


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def end_parent_run(pipeline_name: str, mlflow_tracking_uri: str, kfp_run_id: str,
                   status: dsl.PipelineTaskFinalStatus):
    """Mark the parent run FINISHED or FAILED, as the pipeline ended (no run: start failed)."""
    import os

    from mlflow import MlflowClient

    from voxflow import tracking

    if mlflow_tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
    client = MlflowClient(tracking.tracking_uri())
    parents = client.search_runs(
        [tracking.experiment_id(tracking.EXPERIMENT)],
        f"tags.`voxflow.pipeline` = '{pipeline_name}' and tags.`kfp.run_id` = '{kfp_run_id}'")
    for run in parents:
        client.set_terminated(run.info.run_id,
                              "FINISHED" if status.state == "SUCCEEDED" else "FAILED")
