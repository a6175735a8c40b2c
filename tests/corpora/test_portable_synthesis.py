"""The synthetic corpora are the same bytes on every x86_64 CPU.

A small fixed synthesis (MLMS wavs and TextGrids, an ASVspoof utterance of every attack with its
ASV embedding, float64 waveforms before quantisation: a rendered plan, its 19 spoofs, every noise
category; the portable functions themselves) is hashed; the hashes
are committed below, and the same synthesis in a subprocess with numpy's AVX-512 paths disabled
(an AVX2 CPU), then also its AVX2 paths, OpenBLAS's kernels and glibc's FMA variants (an older
CPU), must give the same hashes. numpy's own exp/log/pow/sin/cos, complex abs and multiply and
BLAS fail this (see voxflow.synth.portable).

If the synthesizer is changed on purpose (or numpy/scipy upgraded and the hashes move), the
corpora in dvc.lock change too: print the new hashes with
`python tests/corpora/test_portable_synthesis.py` and update EXPECTED.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

EXPECTED = {
    "LA/A01.asv": "4d5f5091ac8f5c1e2f04a5afcdcca5b6",
    "LA/A01.flac": "45f248f816806d410b3a6b2f515ae6dd",
    "LA/A02.asv": "a29e6fb8635eac2e34fb303476609ff5",
    "LA/A02.flac": "7639f0c47ea22853b99f1b42666aa04f",
    "LA/A03.asv": "52df8704e8d9053f0b7da40ee8fdd336",
    "LA/A03.flac": "824a7856d4013590eda129d1680e6ccb",
    "LA/A04.asv": "5d25c415d920bec7a079556379bf182c",
    "LA/A04.flac": "b6bf396a20b4d721cc3d61812a73ab6e",
    "LA/A05.asv": "511738f1cebc01dfefee97a4db1b227f",
    "LA/A05.flac": "20a10b36942a6380dc00a1c1daed0dca",
    "LA/A06.asv": "2c37d6062fe9432f42eac3fea5d3c7ed",
    "LA/A06.flac": "0463c9efc51f2a526c700f3227fcb0ae",
    "LA/A07.asv": "4bd683e659b625270bb023013af39de5",
    "LA/A07.flac": "4bbd8f234cfb985bb7ec53457a4acfb8",
    "LA/A08.asv": "96c041f76050a6cd3b95d206b58a0a48",
    "LA/A08.flac": "aa4a2c58ddd174a283e9efb56cb7e0d8",
    "LA/A09.asv": "a35495ccbfdc49a27bb44ae31830b198",
    "LA/A09.flac": "0e593057fb5fc5ef712feed4b5402323",
    "LA/A10.asv": "2d3fe4198bb088e7da946b94e3f15696",
    "LA/A10.flac": "fea3b28b15c364ab5fc5581b405d1318",
    "LA/A11.asv": "daea0592725c28a993f2d32f4ce831ec",
    "LA/A11.flac": "21d4a4bdd28f0a1ca02fb574604c55b2",
    "LA/A12.asv": "ca4e99bf5c2ab046e15cea224af13590",
    "LA/A12.flac": "ed5bc71423d3f9b56b0ba03c8ff6a3a1",
    "LA/A13.asv": "5924bd66aea8be66cb6df72074c022ac",
    "LA/A13.flac": "a369d15fddda60aaffdb7fe342e7d5bf",
    "LA/A14.asv": "478ac76db02d7a3b309a1d09537b6106",
    "LA/A14.flac": "c9904fec3fffa9bb481f1e5452335f98",
    "LA/A15.asv": "34836d4904728ad86abfc0e2d384c099",
    "LA/A15.flac": "67951e51a9d2ca49b17c7a5a75e37952",
    "LA/A16.asv": "a7c63b059a3756eac3dc6669ac30e55f",
    "LA/A16.flac": "c7c439718e43d03d003c85af08b774a7",
    "LA/A17.asv": "a32ed9ca5fee9cabbe73010d74b7c887",
    "LA/A17.flac": "f10e2862763263d7f25726df25b9d96d",
    "LA/A18.asv": "75f474dd7d34565e921ff1742874edcb",
    "LA/A18.flac": "90b3736b756c12ac39e7df9aed3f8992",
    "LA/A19.asv": "14f85510081b9f60616b27010ace1b3f",
    "LA/A19.flac": "8bb8751907283be1f8710191345514e1",
    "LA/bonafide.asv": "b980cea8fd91aaefe521acb2b527ad6e",
    "LA/bonafide.flac": "9cbc8e4ce33fffcef37124cf2fe8c079",
    "mlms/de_f1_0001.TextGrid": "61c04b7d9a6940550bc1849e78f9bb1c",
    "mlms/de_f1_0001.wav": "79fbfc746c1f5a4e716f7d57132c9bd9",
    "mlms/de_f1_0002.TextGrid": "916cd3d7f47eeaabc7e83fc9d14e8df3",
    "mlms/de_f1_0002.wav": "767191bded2077f783dae1a221dc9837",
    "mlms/en-gb_f1_0001.TextGrid": "20ceb7e6b76808862dc7814ca1754851",
    "mlms/en-gb_f1_0001.wav": "1b397723d55fee9d5e1843d0bf7e4649",
    "mlms/en-gb_f1_0002.TextGrid": "5aff00dbe6af4e4e27241b578428d21d",
    "mlms/en-gb_f1_0002.wav": "958a78a8007e75051fdc0de6d3bcc4a1",
    "mlms/fr_f1_0001.TextGrid": "41c77bdebce622cba2f6e68ea3e74d0c",
    "mlms/fr_f1_0001.wav": "0f3b5f8281e7766c43d77c2c86df0b33",
    "mlms/fr_f1_0002.TextGrid": "33bb508081fe0e6f3b278dbe4d1b2994",
    "mlms/fr_f1_0002.wav": "12b1659a1ab018d5e7d00368eaaf72fc",
    "mlms/pl_f1_0001.TextGrid": "d2e6dd379ed81d89744d413758b94fa6",
    "mlms/pl_f1_0001.wav": "881863b793dc52a3f70925e6350004aa",
    "mlms/pl_f1_0002.TextGrid": "2a38585834e93986985fc636fa017544",
    "mlms/pl_f1_0002.wav": "9895868e0ab1e3d4fb107b3466e11458",
    "noise/air_brake": "f88174fda29c29bca1a49752d3aefc4a",
    "noise/car": "f210b70b3b156cfeac5b9e0f97d66c16",
    "noise/engine": "c9b783b53b7b3bdae71bbec95bd7d6e9",
    "noise/human_chatting": "afe48bb676ede95b933d19775c76a374",
    "noise/instrument": "d355f01c248f3b134b4d1550e8186cf4",
    "noise/mic_noise": "07ca002e047985540051e1844c8ea089",
    "noise/music": "4a368d2a340087b9e4d4a19695d56f58",
    "noise/ring_bell": "74bfc4dbe748c465fa7b96d2243df8b6",
    "noise/room": "e306c196fccb233aca37ae68c318a431",
    "noise/street": "e7e10fa098afd198afa0b65c2282f6fd",
    "noise/train": "1a40034b18960796c537d5695dc2b7bf",
    "noise/water": "21f9efa4842bb455b29cbb109affde4b",
    "portable": "4dbae6eb096b9031f124164e0aff2a39",
    "render": "6b5a55d5b624351f42f78c80165525e5",
    "spoof/A01": "1755cecd4ab856dc07b4b5a22efa952e",
    "spoof/A02": "c4d9a94d4df91444f44295ad8de2cae0",
    "spoof/A03": "4f963de09c1228104020ff2c50897e52",
    "spoof/A04": "d10872b10fd5d495869a9ea1941448b6",
    "spoof/A05": "e8dfe612d8ffb9051d4e0fe42d4941c1",
    "spoof/A06": "0facb09137d78ea32ed4129676b64a21",
    "spoof/A07": "0e4300d2a81a0c2c3a16d335b8138000",
    "spoof/A08": "2232aa47450c11c3144a86c4dda8f7d9",
    "spoof/A09": "e155a700917bbdc1a41fe9b63f013240",
    "spoof/A10": "7d667d44b030af6a2af6bfdd4630387f",
    "spoof/A11": "7cc9808873e7721d3a84024ab36a2c60",
    "spoof/A12": "c5610535002aaffd31a09f52035a5ebc",
    "spoof/A13": "1e6b75048f74e23dc6a30899d42b3097",
    "spoof/A14": "85b6fa025455874282386b552597a7fc",
    "spoof/A15": "91a57e6e3b094ed43d217af35f265d7c",
    "spoof/A16": "22b1c679b90dd322a2871e2778115a25",
    "spoof/A17": "66652b0a550b241e8f94f9d3d861efec",
    "spoof/A18": "b1eb5f13fc1512a0006273dcd11cb9ff",
    "spoof/A19": "dc7ae460c621c25ad60b223a0304dbb1",
}

ROOT = Path(__file__).resolve().parents[2]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def fixed_synthesis_hashes(out: Path) -> dict[str, str]:
    """name -> md5 of each piece of a small synthesis written under `out`."""
    from voxflow.synth import ENGLISH, noises, portable
    from voxflow.synth.corpora import asvspoof, mlms
    from voxflow.synth.corpora.common import item_rng
    from voxflow.synth.engine import plan_utterance, render
    from voxflow.synth.spoofing import ATTACKS, spoof
    from voxflow.synth.voice import sample_speaker

    hashes = {}
    # MLMS: TextGrid times come from cumulative sums of exp-scaled phone durations
    for language in ("de", "fr", "en-gb", "pl"):
        speaker_id = f"{language}_f1"
        speaker = sample_speaker(item_rng(0, "mlms", "speaker", speaker_id), speaker_id, "F")
        for k in (1, 2):
            job = mlms._job(0, out / "mlms" / speaker_id, f"{speaker_id}_{k:04d}", speaker,
                            language)
            mlms._render(job)
            for path in (job.speaker_dir / "wavs" / f"{job.utt_id}.wav",
                         job.speaker_dir / "alignments" / f"{job.utt_id}.TextGrid"):
                hashes[f"mlms/{path.name}"] = _md5(path.read_bytes())
    # ASVspoof LA: bona fide and every attack, the FLAC and the ASV system's embedding
    speaker = sample_speaker(item_rng(0, "asvspoof", "speaker", "LA_9000"), "LA_9000", "M")
    for system in ("bonafide", *ATTACKS):
        path = out / "LA" / f"{system}.flac"
        utterance = asvspoof._Utterance("train", f"LA_T_{system}", speaker, system, path,
                                        int(item_rng(0, "portable", system).integers(2**63)))
        embedding = asvspoof._render(utterance)
        hashes[f"LA/{system}.flac"] = _md5(path.read_bytes())
        hashes[f"LA/{system}.asv"] = _md5(np.ascontiguousarray(embedding, np.float64).tobytes())
    # the float64 waveforms before the recording chain and quantisation, which hide most bits
    rng = item_rng(0, "portable", "plan")
    plan = plan_utterance(ENGLISH.sample_sentence(rng, 4), speaker, ENGLISH, rng)
    hashes["render"] = _md5(render(plan, 16000).tobytes())
    for attack in ATTACKS:
        waveform = spoof(attack, plan, item_rng(0, "portable", "spoof", attack))
        hashes[f"spoof/{attack}"] = _md5(waveform.tobytes())
    # noises: one second of every category, before quantisation
    for category, generator in noises.GENERATORS.items():
        audio = generator(item_rng(0, "portable", category), 1.0, 16000)
        hashes[f"noise/{category}"] = _md5(np.asarray(audio, np.float64).tobytes())
    # the functions themselves, over wide ranges
    rng = np.random.default_rng(0)
    x = rng.uniform(-50, 50, 4096)
    positive = np.ldexp(rng.uniform(0.5, 1.0, 4096), rng.integers(-100, 100, 4096))  # not 10**
    z = rng.normal(size=4096) + 1j * rng.normal(size=4096)
    values = [portable.exp(x), portable.log(positive), portable.sin(1e4 * x), portable.cos(x),
              portable.tan(x), portable.power(positive, 0.37), portable.log1p(positive),
              portable.cmul(z, z[::-1]), portable.magnitude(z), portable.unit_phasor(z),
              portable.expi(x), portable.pinv(rng.random((8, 20))),
              portable.butter_sos(4, (150.0, 2500.0), "bandpass", 16000)]
    hashes["portable"] = _md5(b"".join(np.ascontiguousarray(v).tobytes() for v in values))
    return hashes


def _emulations() -> dict[str, dict[str, str]]:
    """Environments that make this CPU take the code paths of older x86_64 CPUs."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    available = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    avx2 = [f for f in available if f not in ("X86_V2", "X86_V3")]
    baseline = [f for f in available if f != "X86_V2"]
    emulations = {}
    if avx2:
        emulations["avx2"] = {"NPY_DISABLE_CPU_FEATURES": " ".join(avx2)}
    if baseline:
        emulations["sse4"] = {"NPY_DISABLE_CPU_FEATURES": " ".join(baseline),
                              "OPENBLAS_CORETYPE": "Nehalem",
                              "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"}
    return emulations


def _hashes_in_subprocess(env: dict[str, str], out: Path) -> dict[str, str]:
    result = subprocess.run([sys.executable, __file__, str(out)], env={**os.environ, **env},
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def native_hashes(tmp_path_factory):
    return fixed_synthesis_hashes(tmp_path_factory.mktemp("native"))


def _differences(got: dict[str, str], expected: dict[str, str]) -> list[str]:
    return sorted(k for k in expected.keys() | got.keys() if got.get(k) != expected.get(k))


def test_fixed_synthesis_matches_committed_hashes(native_hashes):
    changed = _differences(native_hashes, EXPECTED)
    assert not changed, (f"the synthesizer's output changed ({', '.join(changed)}): if on "
                         "purpose, update EXPECTED (and dvc.lock)")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86_64 emulation")
@pytest.mark.parametrize("cpu", ["avx2", "sse4"])
def test_same_bytes_on_older_cpus(cpu, native_hashes, tmp_path):
    emulations = _emulations()
    if cpu not in emulations:
        pytest.skip(f"this CPU has no faster paths than {cpu}")
    emulated = _hashes_in_subprocess(emulations[cpu], tmp_path)
    assert not _differences(emulated, native_hashes), (
        f"differ on an emulated {cpu} CPU: {_differences(emulated, native_hashes)}")


if __name__ == "__main__":
    # the hashes as JSON: under an emulation environment (the test above), or to update EXPECTED
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    print(json.dumps(fixed_synthesis_hashes(out), sort_keys=True))
