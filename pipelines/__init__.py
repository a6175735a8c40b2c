"""Kubeflow Pipelines (v2) definitions of voxflow's DAGs; see README.md here."""
