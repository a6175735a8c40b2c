"""Siamese spoofing detection (the Siamese spoofing paper): LFCC, CQCC and self-supervised
front-ends, the LCNN, ResNet and SENet embedding backbones, the contrastive loss, balanced
minibatches and pairs, the warm-up/decay learning-rate schedule, the MLP classifier, and the
LFCC/CQCC-GMM baselines."""
from voxflow.antispoof.frontends import (CQCCConfig, LFCCConfig, SSLConfig, SSLFrontEnd, cqcc,
                                         cqt_frequencies, cqt_power, deltas, lfcc,
                                         lfcc_frame_count)
from voxflow.antispoof.gmm import GMMConfig, GMMCountermeasure
from voxflow.antispoof.losses import contrastive_loss, pair_distance
from voxflow.antispoof.models import (BACKBONES, BONAFIDE, LCNN, SPOOF, BackboneConfig,
                                      ClassifierConfig, MaxFeatureMap, MLPClassifier,
                                      OriginalNetwork, ResNet, build_backbone,
                                      countermeasure_score)
from voxflow.antispoof.sampling import BalancedBatchSampler, Pairs, sample_pairs
from voxflow.antispoof.schedule import (warmup_decay_factor, warmup_decay_schedule,
                                        warmup_gamma)

__all__ = ["BACKBONES", "BONAFIDE", "LCNN", "SPOOF", "BackboneConfig", "BalancedBatchSampler",
           "CQCCConfig", "ClassifierConfig", "GMMConfig", "GMMCountermeasure", "LFCCConfig",
           "MLPClassifier", "MaxFeatureMap", "OriginalNetwork", "Pairs", "ResNet", "SSLConfig",
           "SSLFrontEnd", "build_backbone", "contrastive_loss", "countermeasure_score", "cqcc",
           "cqt_frequencies", "cqt_power", "deltas", "lfcc", "lfcc_frame_count",
           "pair_distance", "sample_pairs", "warmup_decay_factor", "warmup_decay_schedule",
           "warmup_gamma"]
