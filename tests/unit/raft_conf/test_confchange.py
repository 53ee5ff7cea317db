"""Membership changes outside the scripts: invalid inputs, immutability, the
ConfChange encoding and its refusals (the scripts in testdata/ cover the steps)."""

from __future__ import annotations

import msgpack
import pytest

from quorumkv.core.raft import confchange as cc
from quorumkv.core.raft.quorum import JointConfig, TrackerConfig
from quorumkv.core.raft.types import (ConfChange, ConfChangeSingle, ConfChangeTransition,
                                      ConfChangeType, ConfState)

ADD, LEARNER, REMOVE = (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER,
                        ConfChangeType.REMOVE_NODE)


def three():
    return cc.restore(ConfState(voters=frozenset({"n1", "n2", "n3"})))


def test_a_step_changes_neither_its_config_nor_its_progress():
    config, progress = three()
    before = dict(progress)
    new, new_progress = cc.Changer(config, progress, 5).enter_joint(
        False, [ConfChangeSingle(REMOVE, "n1"), ConfChangeSingle(ADD, "n4")])
    assert progress == before and config == three()[0]
    assert new.voters == JointConfig({"n2", "n3", "n4"}, {"n1", "n2", "n3"})
    assert new_progress is not progress


def test_a_refused_step_leaves_the_inputs_as_they_were():
    config, progress = three()
    with pytest.raises(cc.ConfChangeError, match="more than one voter"):
        cc.Changer(config, progress, 0).simple([ConfChangeSingle(REMOVE, "n1"),
                                                ConfChangeSingle(REMOVE, "n2")])
    assert (config, progress) == three()


@pytest.mark.parametrize("config, progress, problem", [
    (TrackerConfig(JointConfig({"n1"}), learners={"n1"}), {"n1": False},
     "n1 both voter and learner"),
    (TrackerConfig(JointConfig({"n1"})), {}, "n1 has no progress"),
    (TrackerConfig(JointConfig({"n1"})), {"n1": False, "n2": True},
     "n2 has progress but no role"),
    (TrackerConfig(JointConfig({"n1"}), learners={"n2"}), {"n1": False, "n2": False},
     "n2's progress says learner=False"),
    (TrackerConfig(JointConfig({"n1"}), learners_next={"n1"}), {"n1": False},
     "learners_next .n1. outside a joint config"),
    (TrackerConfig(JointConfig({"n1"}, {"n1"}), learners_next={"n2"}),
     {"n1": False, "n2": False}, "n2 is in learners_next but not an outgoing voter"),
    (TrackerConfig(JointConfig({"n1"}), auto_leave=True), {"n1": False},
     "auto_leave set outside a joint config"),
])
def test_an_invalid_current_config_is_refused_with_what_is_wrong(config, progress, problem):
    with pytest.raises(cc.ConfChangeError, match=f"current config .* invalid: {problem}"):
        changer = cc.Changer(config, progress, 0)
        if config.voters.is_joint():
            changer.leave_joint()
        else:
            changer.simple([ConfChangeSingle(LEARNER, "n9")])


def test_to_conf_state_names_every_role():
    config, _ = cc.restore(ConfState(voters=frozenset({"n1", "n2"}),
                                     learners=frozenset({"n4"}),
                                     voters_outgoing=frozenset({"n1", "n2", "n3"}),
                                     learners_next=frozenset({"n3"}), auto_leave=True))
    assert cc.to_conf_state(config) == ConfState(
        frozenset({"n1", "n2"}), frozenset({"n4"}), frozenset({"n1", "n2", "n3"}),
        frozenset({"n3"}), True)
    assert cc.describe(config) == ("voters=(n1,n2)&&(n1,n2,n3) learners=(n4) "
                                   "learners_next=(n3) autoleave")


def test_an_empty_conf_state_is_an_empty_group():
    assert cc.restore(ConfState()) == (TrackerConfig(), {})


def test_encode_decode_keeps_every_field():
    change = ConfChange((ConfChangeSingle(ADD, "n4"), ConfChangeSingle(REMOVE, "n1")),
                        ConfChangeTransition.EXPLICIT, b"ctx")
    back = cc.decode(cc.encode(change))
    assert back == change
    assert type(back.transition) is ConfChangeTransition
    assert all(type(c.type) is ConfChangeType for c in back.changes)


@pytest.mark.parametrize("values, problem", [
    ([2, 0, [], b""], "unknown format 2"),
    ([1, 0, []], "not an array of 4"),
    ([1, 9, [], b""], "9 is not a valid ConfChangeTransition"),
    ([1, 0, [[7, "n1"]], b""], "7 is not a valid ConfChangeType"),
    ([1, 0, [[0, b"n1"]], b""], r"not \[int, str\]"),
    ([1, 0, [[0]], b""], r"not \[type, node_id\]"),
    ([1, 0, [], "ctx"], "fields are not"),
    ([True, 0, [], b""], "unknown format True"),
])
def test_decode_refuses_what_encode_never_gives(values, problem):
    data = msgpack.packb(values, use_bin_type=True)
    with pytest.raises(cc.ConfChangeError, match=f"bad conf change encoding: .*{problem}"):
        cc.decode(data)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x94\x01\x00\x90", b"\x94\x01\x00\x90\xc4\x00!"])
def test_decode_refuses_bytes_that_are_not_msgpack_of_one_value(data):
    with pytest.raises(cc.ConfChangeError, match="bad conf change encoding"):
        cc.decode(data)
