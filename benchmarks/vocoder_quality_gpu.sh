#!/usr/bin/env bash
# The quality preset's learning curves on a lent GPU, in under 10 minutes: the same script as
# on the CPU (benchmarks/bench_vocoder_curves.py), the teacher trained 20x longer than the
# 1000 CPU steps of benchmarks/README.md. Needs `make setup` and the vocoder features:
#   .venv/bin/dvc repro vocoder-features && bash benchmarks/vocoder_quality_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python benchmarks/bench_vocoder_curves.py --features data/vocoder/features \
    --out benchmarks/results/vocoder-quality-gpu --preset quality \
    --set teacher.steps="${TEACHER_STEPS:-20000}" --student-steps "${STUDENT_STEPS:-2000}" \
    --student-every 500
