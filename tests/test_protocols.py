"""Clips and protocols on small synthetic skeleton sets."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from himpc.data import (ClipSet, DataError, SkeletonSet, by_field_split, make_clips, normalize_clips,
                        walk_split)
from himpc.layouts import get_layout


def skeletons(walks_per_person: dict[str, int], length=lambda w: 40 + 3 * w, view=None) -> SkeletonSet:
    person = [p for p, n in walks_per_person.items() for _ in range(n)]
    lens = np.array([length(w) for w in range(len(person))])
    off = np.concatenate([[0], np.cumsum(lens)])
    pos = np.repeat(np.arange(off[-1], dtype=np.float32)[:, None, None], 20, axis=1).repeat(3, axis=2)
    pos[:, :, 1] += np.arange(20, dtype=np.float32)        # joint index in y
    names = [f"{p}/{i}" for i, p in enumerate(person)]
    return SkeletonSet(positions=pos, walk_offsets=off, person=person, layout=get_layout("kinect-v1-20"),
                       walk_names=names, view=view)


def test_make_clips_frames_and_counts():
    ss = skeletons({"a": 2, "b": 1}, length=lambda w: [45, 20, 27][w])
    cs = make_clips(ss, [2, 0, 1], seq_len=6, trim=10)
    # usable frames 7, 25, 0 -> clips 1, 4, 0 (walk order as given)
    assert len(cs) == 5 and list(cs.walk) == [2, 0, 0, 0, 0] and list(cs.start) == [10, 10, 16, 22, 28]
    expect = ss.walk_offsets[cs.walk][:, None] + cs.start[:, None] + np.arange(6)
    np.testing.assert_array_equal(cs.clips[..., 0, 0], expect)
    assert cs.clips.shape == (5, 6, 20, 3) and cs.clips.dtype == np.float32
    assert list(cs.person) == ["b", "a", "a", "a", "a"] and list(cs.labels()) == [1, 0, 0, 0, 0]
    assert list(cs.labels(np.array(["z", "b", "a"]))) == [1, 2, 2, 2, 2]
    empty = make_clips(ss, [1], seq_len=6, trim=10)
    assert len(empty) == 0 and empty.clips.shape == (0, 6, 20, 3)


def test_walk_split_rules_and_determinism(caplog):
    ss = skeletons({"p1": 5, "p2": 6, "p3": 3, "p4": 4, "p5": 2})
    with caplog.at_level(logging.WARNING, logger="himpc.data"):
        sp = walk_split(ss, seed=3, seq_len=6, trim=2)
    assert "person p5 has 2 walks" in caplog.text and sp.info["persons_dropped"] == ["p5"]
    walks = {k: set(getattr(sp, k).walk.tolist()) for k in ("train", "gallery", "probe")}
    assert not (walks["train"] & walks["gallery"]) and not (walks["gallery"] & walks["probe"])
    per = {k: {p: len({w for w in walks[k] if ss.person[w] == p}) for p in ("p1", "p2", "p3", "p4")}
           for k in walks}
    assert per["probe"] == {"p1": 1, "p2": 1, "p3": 1, "p4": 1}
    assert per["gallery"] == {"p1": 2, "p2": 2, "p3": 1, "p4": 2}
    assert per["train"] == {"p1": 2, "p2": 3, "p3": 1, "p4": 1}
    assert sp.info["walks"] == {"train": 7, "gallery": 7, "probe": 4}
    assert sp.info["clips"]["probe"] == len(sp.probe)
    again = walk_split(ss, seed=3, seq_len=6, trim=2)
    assert again.info["walk_names"] == sp.info["walk_names"]
    # input order of the walks does not matter
    perm = np.random.default_rng(0).permutation(ss.num_walks)
    shuffled = walk_split(ss.subset(perm), seed=3, seq_len=6, trim=2)
    assert {k: sorted(v) for k, v in shuffled.info["walk_names"].items()} == \
           {k: sorted(v) for k, v in sp.info["walk_names"].items()}
    seeds = {walk_split(ss, seed=s, seq_len=6, trim=2).info["assignment_sha1"] for s in range(6)}
    assert len(seeds) > 1
    with pytest.raises(DataError, match="person p5 has 2 walks"):
        walk_split(ss, seed=0, strict=True)


def test_by_field_split():
    view = np.array(["0", "90", "180", "0", "90", "180"])
    ss = skeletons({"a": 3, "b": 3}, view=view)
    sp = by_field_split(ss, "view", ["90"], ["0"], seq_len=5, trim=0)
    assert set(sp.probe.walk) == {1, 4} and set(sp.gallery.walk) == {0, 3} and set(sp.train.walk) == {2, 5}
    assert sp.info["train_values"] == ["180"]
    sp = by_field_split(ss, "view", ["90"], ["0"], train_values=[], seq_len=5, trim=0)
    assert set(sp.train.walk) == {2, 5}
    with pytest.raises(DataError, match="no per-walk 'condition' field"):
        by_field_split(ss, "condition", ["nm"], ["bg"])
    with pytest.raises(DataError, match=r"probe view value\(s\) \['45'\] match no walk"):
        by_field_split(ss, "view", ["45"], ["0"])
    with pytest.raises(DataError, match="both probe and gallery"):
        by_field_split(ss, "view", ["0"], ["0"])


def test_normalize_clips():
    ss = skeletons({"a": 1})
    cs = make_clips(ss, [0], seq_len=4, trim=0)
    lay = ss.layout
    out = normalize_clips(cs.clips, lay, "root")
    assert out is not cs.clips and np.all(out[:, :, lay.root_indices()[0]] == 0)
    np.testing.assert_allclose(out[0, 0, :, 1], np.arange(20) - lay.root_indices()[0])
    np.testing.assert_allclose(out[..., 0], 0)            # x was the frame index, shared by all joints
    same = normalize_clips(cs.clips, lay, "none")
    assert same is not cs.clips and np.array_equal(same, cs.clips)
    with pytest.raises(ValueError, match="unknown normalize mode"):
        normalize_clips(cs.clips, lay, "bbox")


def test_clipset_validation():
    lay = get_layout("coco-14")
    with pytest.raises(DataError, match="14"):
        ClipSet(np.zeros((2, 3, 20, 3)), ["a", "b"], [0, 1], [0, 0], lay)
    with pytest.raises(DataError, match="same length"):
        ClipSet(np.zeros((2, 3, 14, 3)), ["a"], [0, 1], [0, 0], lay)
