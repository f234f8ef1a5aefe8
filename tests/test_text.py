"""tlcourse.text: the tweet corpus, the encoder offline, cached embeddings, clear errors."""
import socket

import numpy as np
import pandas as pd
import pytest

from tlcourse import features, text


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: what would happen if the encoder reached a hub."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_tweets_are_the_graded_corpus():
    items = text.tweets()
    assert len(items) > 38_000 and list(items.columns) == ["text", "label", "confidence"]
    assert set(items["label"]) == set(text.CLASSES)
    assert items["text"].map(lambda t: isinstance(t, str) and t.strip() != "").all()
    given = items["confidence"].dropna()
    assert given.between(0, 1).all() and len(given) > 30_000   # some of the six corpora give no agreement


def test_encoder_loads_and_embeds_without_the_network(no_network):
    text.load_encoder.cache_clear()
    encoder = text.load_encoder()
    vectors = encoder.encode(["The flight was delayed again.", "My plane left hours late.",
                              "I love this new phone."], convert_to_numpy=True, normalize_embeddings=True)
    assert vectors.shape == (3, 384)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.2   # the pretrained encoder knows a paraphrase when it sees one


def test_embeddings_are_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "CACHE", tmp_path)
    sentences = ["good morning", "terrible service", "it is raining"]
    first = text.embed_texts(sentences, "tiny")
    assert first.shape == (3, 384) and len(list((tmp_path / "features").glob("tiny-*.npy"))) == 1

    def no_model(*args, **kwargs):
        raise AssertionError("the encoder was loaded although the embeddings were cached")
    monkeypatch.setattr(text, "load_encoder", no_model)
    assert np.array_equal(text.embed_texts(sentences, "tiny"), first)
    with pytest.raises(AssertionError, match="was loaded"):
        text.embed_texts(sentences + ["one more"], "tiny")   # other texts: a new file


def test_a_linear_probe_on_embeddings_beats_chance(tmp_path, monkeypatch):
    from tlcourse.data import split_items
    monkeypatch.setattr(text, "CACHE", tmp_path)
    items = split_items(text.tweets(), n_per_class=40, valid_per_class=40, seed=0)
    embeddings = text.embed_texts(items["text"], "tweets-probe-test")
    result = features.linear_probe(embeddings, items)
    assert result["accuracy"] > 0.5    # three balanced classes: chance is 1/3


@pytest.mark.parametrize("bad, message", [
    ([], "empty"),
    (["fine", ""], "1 of 2 texts are empty"),
    (["fine", "   "], "empty"),
    ([1.5, 2.0], "not text"),
    (pd.DataFrame({"text": ["a"]}), "one column"),
])
def test_bad_input_gets_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        text.embed_texts(bad, "bad")
