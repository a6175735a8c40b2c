"""What a listener gets: orders drawn from their seed, blind condition letters, group routing."""
from __future__ import annotations

from voxflow.listen.package import read_package
from voxflow.listen.pages import TRAINING, Listener, conditions, page_ids, page_view


def listener(seed: int, groups=()) -> Listener:
    return Listener(id=1, uuid="u", name="n", seed=seed, groups=tuple(groups))


def test_mushra_starts_with_the_training_page_then_every_trial(mushra_package):
    package = read_package(mushra_package)
    pages = page_ids(package, listener(1))
    assert pages[0] == TRAINING and sorted(pages[1:]) == sorted(package.trials)


def test_the_same_seed_gives_the_same_orders(mushra_package):
    package = read_package(mushra_package)
    assert page_ids(package, listener(7)) == page_ids(package, listener(7))
    assert conditions(package, listener(7), "trial1") == conditions(package, listener(7),
                                                                     "trial1")


def test_listeners_get_their_own_page_and_condition_orders(mushra_package):
    package = read_package(mushra_package)
    page_orders = {tuple(page_ids(package, listener(seed))) for seed in range(20)}
    condition_orders = {tuple(conditions(package, listener(seed), "trial1").values())
                        for seed in range(20)}
    assert len(page_orders) > 3 and len(condition_orders) > 10


def test_hidden_reference_and_anchors_are_among_the_lettered_conditions(mushra_package):
    package = read_package(mushra_package)
    keys = conditions(package, listener(3), "trial2")
    assert list(keys) == list("ABCDEF")
    assert set(keys.values()) == {"reference", "anchor35", "anchor70", "upw", "sdpw",
                                  "griffin-lim"}


def test_a_page_names_no_system_and_no_file(mushra_package):
    package = read_package(mushra_package)
    text = str(page_view(package, listener(3), "trial2"))
    assert not any(name in text for name in ("anchor", "upw", "sdpw", "griffin", ".wav"))


def test_an_ab_listener_gets_the_trials_of_their_groups(ab_package):
    package = read_package(ab_package)
    pages = page_ids(package, listener(5, groups=["fr"]))
    assert sorted(pages) == sorted(t.id for t in package.trials.values() if t.group == "fr")
