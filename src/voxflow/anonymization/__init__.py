"""Voice anonymization (paper 003, the JHU HLTCOE submission to the VoicePrivacy Challenge 2024).

Self-supervised speech features trained in-project (`ssl`), kNN-VC and its variants (`knnvc`)
with a HiFi-GAN-style vocoder from those features (`vocoder`), and the VPC 2024 evaluation: an
ECAPA-TDNN speaker verifier for the ignorant and semi-informed attackers (`asv`), a speech
emotion recognizer (`emotion`) and a CTC speech recognizer (`asr`). Every model works on 16 kHz
audio (`audio`).
"""
