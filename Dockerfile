# The base image of the Kubeflow components (components/): voxflow with its locked dependencies.
#   docker build -t voxflow:0.1.0 .      (the tag is components.IMAGE; VOXFLOW_IMAGE names another)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# no progress bars in the task logs
ENV VOXFLOW_PROGRESS=0

WORKDIR /opt/voxflow

# the dependencies in their own layer, so that a code change does not reinstall them
# pesq is published as source only: compile it, then drop the compiler
COPY requirements.lock ./
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -r requirements.lock \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps .

WORKDIR /workspace
