"""Siamese spoofing detection (the Siamese spoofing paper): LFCC, CQCC and self-supervised
front-ends, the LCNN, ResNet and SENet embedding backbones, the contrastive loss, balanced
minibatches and pairs, the warm-up/decay learning-rate schedule, the MLP classifier, and the
LFCC/CQCC-GMM baselines."""
