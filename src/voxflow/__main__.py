"""`python -m voxflow ...`, the same as the `voxflow` command; what torchrun launches:

    torchrun --nproc_per_node=4 -m voxflow stage vocoder-teacher upw data/vocoder/features \
        --out models/vocoder/upw/teacher
"""
import sys

from voxflow.cli import main

sys.exit(main())
