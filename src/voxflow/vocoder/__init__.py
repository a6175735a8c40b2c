"""Universal Parallel WaveNet vocoder (the UPW paper): conditioning networks with the Audio Encoder,
the WaveNet teacher with a discretized mixture of logistics, the Parallel WaveNet student, and
their losses. Training data: `voxflow.vocoder.data`."""
