"""The representation-learning objective of the Siamese spoofing paper (section 3.1, eq. 3): the
contrastive loss of a Siamese network (after Hadsell, Chopra and LeCun 2006), on pairs of
embeddings.

    L(Y, x_i, x_j) = (1 - Y) 1/2 D_ij + Y 1/2 max(0, m - D_ij),   D_ij = ||f(x_i) - f(x_j)||_2

Y = 0 when x_i and x_j are of the same class (both bona fide or both spoof), Y = 1 when they
differ; m = 2 is the paper's best margin (table 3). As printed, D and the hinge enter linearly,
not squared as in Hadsell et al.; this is that printed form.
"""
from __future__ import annotations

import torch

SAME, DIFFERENT = 0, 1


def pair_distance(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(pairs, dim) twice -> (pairs,) Euclidean distances D_ij. `vector_norm`'s gradient is 0
    where the two embeddings coincide (not NaN, as sqrt's would be)."""
    return torch.linalg.vector_norm(first - second, dim=-1)


def contrastive_loss(first: torch.Tensor, second: torch.Tensor, pair_label: torch.Tensor,
                     margin: float = 2.0) -> torch.Tensor:
    """Eq. 3 averaged over the pairs: first, second (pairs, dim) embeddings f(x_i), f(x_j),
    pair_label (pairs,) Y in {0 same class, 1 different classes} -> scalar. A dissimilar pair
    contributes only while its distance is below the margin. Computed in float32 whatever the
    embeddings' dtype: under bfloat16 autocast a distance keeps 3 significant digits."""
    distance = pair_distance(first.float(), second.float())
    y = pair_label.to(distance.dtype)
    per_pair = (1 - y) * 0.5 * distance + y * 0.5 * torch.clamp(margin - distance, min=0)
    return per_pair.mean()
