"""Stage timings: exclusive per stage, in the order stages start, silent when no timer is active."""

from __future__ import annotations

import gc
import time

from converter.core.timing import StageTimer, stage
from converter.graphs.bulk import fewer_collections


def test_nested_stage_time_is_not_counted_twice():
    with StageTimer() as timer, stage("load"):
        time.sleep(0.05)
        with stage("normalize"):
            time.sleep(0.1)
    seconds = timer.to_dict()
    assert list(seconds) == ["load", "normalize"]
    assert seconds["normalize"] >= 0.1
    assert 0.05 <= seconds["load"] < seconds["normalize"]  # its own 0.05 s, not the 0.15 s the block took


def test_stage_without_a_timer_records_nothing():
    timer = StageTimer()
    with stage("load"):
        pass
    assert timer.to_dict() == {}


def test_fewer_collections_pauses_the_collector_and_restores_it():
    before = gc.get_threshold()
    assert gc.isenabled()
    with fewer_collections():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_threshold() == before
    gc.disable()
    try:
        with fewer_collections():
            pass
        assert not gc.isenabled()  # a caller's own choice stands
    finally:
        gc.enable()


def test_what_the_block_kept_is_left_to_full_collections_and_garbage_cycles_are_still_collected():
    class Node:
        pass

    with fewer_collections():
        kept = [Node() for _ in range(1000)]
        cycle = Node()
        cycle.self = cycle
        del cycle
    assert gc.get_count()[0] < 1000  # the young generation holds none of the block's objects any more
    assert gc.get_freeze_count() == 0
    assert any(obj is kept[0] for obj in gc.get_objects(generation=2))
    assert gc.collect() >= 1  # the cycle made in the block


def test_a_programs_frozen_objects_stay_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with fewer_collections():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
