"""The enhancement data: mixture log-mels aligned with the target talker's mouth crops."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from voxflow.avse.data import EnhancementSet
from voxflow.avse.mixing import mix, read_mixture_table
from voxflow.features.cache import read_index
from voxflow.features.logmel import LogMel

MEL_PER_VIDEO = 4


def test_every_mixture_has_its_noisy_and_clean_log_mel(avse_data):
    table, _ = read_mixture_table(avse_data["mixtures"])
    index = read_index(avse_data["features"])
    assert sorted(index["utt_id"]) == sorted(table["mixture_id"])
    assert (index["frames"] == table.set_index("mixture_id").loc[index["utt_id"],
                                                                 "num_samples"].values // 160).all()


def test_the_clean_log_mel_is_the_target_inside_the_mixture(avse_data):
    from voxflow.avse.params import avse_params

    table, roots = read_mixture_table(avse_data["mixtures"])
    row = table.iloc[0]
    index = read_index(avse_data["features"]).set_index("utt_id")
    clean = np.load(avse_data["features"] / index.loc[row["mixture_id"], "clean_path"])
    target = mix(row.to_dict(), roots).target
    expected = LogMel(avse_params(avse_data["section"]).features)(torch.from_numpy(target)[None])
    assert np.allclose(clean, expected[0].numpy(), atol=1e-5)


def test_crops_are_aligned_with_the_log_mel_frames(avse_data):
    train = EnhancementSet(avse_data["features"], avse_data["crops"], "train")
    crops = read_index(avse_data["crops"]).set_index("utt_id")
    for k, row in enumerate(train.index.itertuples()):
        video = np.load(avse_data["crops"] / crops.loc[row.target, "crops_path"])
        assert len(train.noisy[k]) == MEL_PER_VIDEO * len(train.video[k])
        assert np.array_equal(train.video[k], video[:len(train.video[k])])   # the target's face


def test_the_statistics_weigh_each_mixture_alike(avse_data):
    """Summed per distinct video, the pixel moments equal those of every mixture's crops laid
    end to end (a video counts once per mixture that shows it)."""
    train = EnhancementSet(avse_data["features"], avse_data["crops"], "train")
    statistics = train.statistics()
    pixels = np.concatenate([v.reshape(-1) for v in train.video]).astype(np.float64) / 255
    frames = np.concatenate(train.noisy).astype(np.float64)
    assert len(train.video) > train.index["target"].nunique()      # videos are shared
    assert np.isclose(statistics.video_mean, pixels.mean(), rtol=1e-9)
    assert np.isclose(statistics.video_std, pixels.std(), rtol=1e-9)
    assert np.allclose(statistics.mel_mean, frames.mean(0), rtol=1e-6)
    assert np.allclose(statistics.mel_std, frames.std(0), rtol=1e-6)


def test_a_segment_takes_the_same_span_of_audio_and_video(avse_data):
    train = EnhancementSet(avse_data["features"], avse_data["crops"], "train")
    whole = train.batch([0])
    part = train.batch([0], spans=[(10, 15)])
    assert part["noisy"].shape == (1, 20, 80) and part["video"].shape == (1, 5, 80, 80)
    assert torch.equal(part["noisy"][0], whole["noisy"][0, 40:60])
    assert torch.equal(part["video"][0], whole["video"][0, 10:15])


def test_a_batch_pads_shorter_mixtures_with_zeros_and_gives_their_lengths(avse_data):
    train = EnhancementSet(avse_data["features"], avse_data["crops"], "train")
    batch = train.batch([0, 1], spans=[(0, 10), (0, 6)])
    assert batch["lengths"].tolist() == [40, 24]
    assert batch["noisy"].shape == (2, 40, 80) and not batch["noisy"][1, 24:].any()
    assert not batch["video"][1, 6:].any()


def test_the_sampler_is_a_function_of_its_generator(avse_data):
    sample = EnhancementSet(avse_data["features"], avse_data["crops"], "train").sampler(4, 5)
    first, second = (sample(torch.Generator().manual_seed(3)) for _ in range(2))
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert first["video"].shape == (4, 5, 80, 80)


def test_mixtures_of_a_target_without_crops_are_left_out(avse_data, tmp_path):
    crops = read_index(avse_data["crops"])
    kept = crops[crops["utt_id"] != crops["utt_id"].iloc[0]]
    (tmp_path / "crops").mkdir()
    for name in kept["crops_path"]:
        (tmp_path / "crops" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "crops" / name).write_bytes((avse_data["crops"] / name).read_bytes())
    kept.to_parquet(tmp_path / "crops" / "index.parquet")
    pd.DataFrame(columns=["utt_id", "path", "reason"]).to_csv(tmp_path / "crops" / "rejects.csv")
    split = crops["split"].iloc[0]
    full = EnhancementSet(avse_data["features"], avse_data["crops"], split)
    partial = EnhancementSet(avse_data["features"], tmp_path / "crops", split)
    assert partial.missing_video > 0 and len(partial) == len(full) - partial.missing_video
