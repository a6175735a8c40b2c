"""Speak a sentence in two languages with one speaker of the champion MLMS voice.

    python examples/speak_with_champion.py --out-dir speech
    python examples/speak_with_champion.py --speaker S --say en "some words" \\
        --say de "andere Wörter" --out-dir speech

The voices (sample rate, languages, speakers) are the model's metadata. The voice says only
words of its lexicon: the words of its training alignments, per language, shipped with the
model (`model.unwrap_python_model().voice.lexicon`); an unknown word is an error naming it.
Without --say, the sentence of each of the voice's first two languages is the first --words
words of that language's lexicon (in alphabetical order: valid words, not much of a
sentence). The speaker defaults to the voice's first; any speaker speaks every language.
Writes <out-dir>/<speaker>_<language>.wav.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import mlflow
import numpy as np
import soundfile as sf

from voxflow.tracking import tracking_uri

MODEL_URI = "models:/voxflow-mlms@champion"


def lexicon_sentences(model, words: int) -> dict[str, str]:
    """language -> its lexicon's first `words` words, for the voice's first two languages."""
    lexicon = model.unwrap_python_model().voice.lexicon.pronunciations
    return {language: " ".join(list(lexicon[language])[:words])
            for language in model.metadata.metadata["languages"][:2]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--say", nargs=2, action="append", metavar=("LANGUAGE", "TEXT"),
                        help="a sentence in one language (repeat for each language); default: "
                             "lexicon words in the voice's first two languages")
    parser.add_argument("--speaker", help="default: the voice's first speaker")
    parser.add_argument("--words", type=int, default=5,
                        help="words of each lexicon sentence (without --say)")
    parser.add_argument("--out-dir", required=True, help="folder of the output wavs")
    parser.add_argument("--model", default=MODEL_URI)
    parser.add_argument("--tracking-uri", default=tracking_uri(),
                        help="MLflow store (default: MLFLOW_TRACKING_URI or voxflow's mlflow/)")
    args = parser.parse_args(argv)

    mlflow.set_tracking_uri(args.tracking_uri)
    model = mlflow.pyfunc.load_model(args.model)
    voices = model.metadata.metadata
    speaker = args.speaker or voices["speakers"][0]
    sentences = dict(args.say) if args.say else lexicon_sentences(model, args.words)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for language, text in sentences.items():
        audio = model.predict({"text": text, "language": language, "speaker": speaker})
        path = out_dir / f"{speaker}_{language}.wav"
        sf.write(path, np.clip(audio, -1.0, 1.0), voices["sample_rate"], subtype="PCM_16")
        print(f"{path}: {len(audio) / voices['sample_rate']:.2f} s of {speaker} saying "
              f"{text!r} in {language}")


if __name__ == "__main__":
    main()
