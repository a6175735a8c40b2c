"""Universal Parallel WaveNet vocoder (the UPW paper): conditioning networks with the Audio Encoder,
the WaveNet teacher with a discretized mixture of logistics, the Parallel WaveNet student, and
their losses. Training data: `voxflow.vocoder.data`."""
from voxflow.vocoder.losses import (density_distillation, distillation_loss, mel_loss,
                                    power_loss, teacher_loss)
from voxflow.vocoder.models import (AudioEncoder, AudioEncoderConfig, ConditioningConfig,
                                    ConditioningNetwork, MelConditioner, ParallelWaveNetStudent,
                                    StudentConfig, StudentOutput, TeacherConfig, VocoderConfig,
                                    WaveNetTeacher)

__all__ = ["AudioEncoder", "AudioEncoderConfig", "ConditioningConfig", "ConditioningNetwork",
           "MelConditioner", "ParallelWaveNetStudent", "StudentConfig", "StudentOutput",
           "TeacherConfig", "VocoderConfig", "WaveNetTeacher", "density_distillation",
           "distillation_loss", "mel_loss", "power_loss", "teacher_loss"]
