"""The sharing reading of the final state (``evaluator.grade_sharing``): what co-placed pods do
to each other while they run, as the testbed measures it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from model_builders import cloud, edge, pod

from cloudedge import model
from cloudedge.model import evaluator

CONFIG = model.ModelConfig()


class TestSharedFinish:
    def test_equal_jobs_on_one_server_all_end_after_the_sum(self) -> None:
        assert evaluator.shared_finish([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], 0) == 6.0

    def test_a_short_job_ends_once_each_other_job_got_as_much(self) -> None:
        # Sizes 1 and 3, equal shares: the short one ends after 2 units of work, the long one
        # after all 4.
        assert evaluator.shared_finish([1.0, 3.0], [1.0, 1.0], 0) == 2.0
        assert evaluator.shared_finish([1.0, 3.0], [1.0, 1.0], 1) == 4.0

    def test_weights_give_a_heavier_job_a_larger_share(self) -> None:
        # Equal sizes 2, weights 3:1: the heavy job gets 3/4 of the server and ends when
        # the light one has done 2/3; the light one ends after all 4.
        assert evaluator.shared_finish([2.0, 2.0], [3.0, 1.0], 0) == pytest.approx(2 + 2 / 3)
        assert evaluator.shared_finish([2.0, 2.0], [3.0, 1.0], 1) == 4.0


class TestOverlapProbability:
    def test_no_window_means_every_transfer_overlaps(self) -> None:
        assert evaluator.overlap_probability(0.1, 0.2, 0.0) == 1.0

    def test_short_transfers_in_a_long_window_rarely_meet(self) -> None:
        # (a + b) / W - (a^2 + b^2) / (2 W^2) with a = 0.1, b = 0.3, W = 10.
        assert evaluator.overlap_probability(0.1, 0.3, 10.0) == pytest.approx(
            0.04 - (0.01 + 0.09) / 200
        )

    def test_it_is_symmetric_and_grows_with_either_length(self) -> None:
        assert evaluator.overlap_probability(1.0, 2.0, 5.0) == evaluator.overlap_probability(
            2.0, 1.0, 5.0
        )
        lengths = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]
        chances = [evaluator.overlap_probability(x, 1.0, 4.0) for x in lengths]
        assert chances == sorted(chances)

    def test_transfers_as_long_as_the_window_always_overlap(self) -> None:
        assert evaluator.overlap_probability(5.0, 5.0, 5.0) == 1.0
        assert evaluator.overlap_probability(50.0, 9.0, 5.0) == 1.0


class TestExpectedSharedMegabytes:
    def test_no_window_is_fair_sharing_with_every_transfer(self) -> None:
        sizes = [1.0, 3.0, 0.5]
        for own in range(3):
            assert evaluator.expected_shared_megabytes(
                sizes, own, rate=8.0, spread_s=0.0
            ) == evaluator.shared_finish(sizes, [1.0] * 3, own)

    def test_a_small_object_among_far_apart_starts_is_mostly_alone(self) -> None:
        # 0.1 MB at 8 Mbit/s takes 0.1 s alone, 0.01 of the 10 s window; a 10 MB transfer
        # beside it takes the whole window, so they overlap with chance
        # 0.01 + 1 - (0.0001 + 1) / 2 = 0.50995 and the small one is charged 0.1 + 0.50995 * 0.1 MB.
        charged = evaluator.expected_shared_megabytes([0.1, 10.0], 0, rate=8.0, spread_s=10.0)
        assert charged == pytest.approx(0.1 + 0.50995 * 0.1)


def grade(
    pods: list[model.Pod], nodes: list[str], cluster: model.ClusterState, start: float = 0.0
) -> evaluator.Grade:
    problem = evaluator.Problem(pods, cluster, CONFIG)
    return evaluator.grade_sharing(problem, [cluster.index[n] for n in nodes], pod_start_s=start)


def test_two_cpu_bound_pods_on_one_node_each_take_twice_as_long() -> None:
    cluster = model.ClusterState([edge("e1", cpu=1000), edge("e2", cpu=1000)])
    pods = [pod("a", compute_cost=1000.0), pod("b", compute_cost=1000.0)]
    together = grade(pods, ["e1", "e1"], cluster)
    apart = grade(pods, ["e1", "e2"], cluster)
    assert [o.processing_s for o in together.outcomes if o] == pytest.approx([2.0, 2.0])
    assert [o.processing_s for o in apart.outcomes if o] == pytest.approx([1.0, 1.0])


def test_the_cpu_is_shared_in_proportion_to_the_requests() -> None:
    # 750m and 250m, equal work of 1000 units on a 1000-unit/s node: the big request gets 3/4
    # of the node until it finishes (4/3 s), then the small one runs alone (2 s in all).
    cluster = model.ClusterState([edge("e1", cpu=1000)])
    pods = [pod("big", cpu=750, compute_cost=1000.0), pod("small", cpu=250, compute_cost=1000.0)]
    graded = grade(pods, ["e1", "e1"], cluster)
    assert [o.processing_s for o in graded.outcomes if o] == pytest.approx([4 / 3, 2.0])


def test_transfers_into_one_node_share_its_link_and_local_data_moves_nothing() -> None:
    # Two pods fetch 10 MB each from the cloud node into edge node e1 (100 Mbit/s): 1.6 s
    # together where one alone takes 0.8 s; a pod whose data is on e1 transfers nothing and
    # does not slow the others.
    cluster = model.ClusterState([edge("e1"), cloud("c1")])
    remote = [pod(f"r{k}", data_source="c1", data_size_mb=10.0) for k in range(2)]
    local = pod("local", data_source="e1", data_size_mb=10.0)
    graded = grade([*remote, local], ["e1", "e1", "e1"], cluster)
    alone = grade(remote[:1], ["e1"], cluster)
    assert alone.outcomes[0] is not None
    latency = alone.outcomes[0].transfer_s - 0.8
    assert [o.transfer_s for o in graded.outcomes if o] == pytest.approx(
        [latency + 1.6, latency + 1.6, 0.0]
    )


def test_readers_of_one_source_share_its_uplink_wherever_they_run() -> None:
    # Source e1 sends at 100 Mbit/s; two readers on two cloud nodes still share it.
    cluster = model.ClusterState([edge("e1"), cloud("c1"), cloud("c2")])
    pods = [pod(f"r{k}", data_source="e1", data_size_mb=10.0) for k in range(2)]
    apart = grade(pods, ["c1", "c2"], cluster)
    alone = grade(pods[:1], ["c1"], cluster)
    assert alone.outcomes[0] is not None
    latency = alone.outcomes[0].transfer_s - 0.8
    assert [o.transfer_s for o in apart.outcomes if o] == pytest.approx(
        [latency + 1.6, latency + 1.6]
    )


def test_readers_that_start_apart_share_the_uplink_less() -> None:
    # The same two readers, but their pods start spread over 16 s: each 0.8 s transfer (0.05
    # of the window) meets the other with chance 0.05 + 0.05 - (0.0025 + 0.0025) / 2 = 0.0975,
    # so each is charged 10 + 0.0975 * 10 MB; each request also pays 0.05 s before its first
    # byte.
    cluster = model.ClusterState([edge("e1"), cloud("c1"), cloud("c2")])
    pods = [pod(f"r{k}", data_source="e1", data_size_mb=10.0) for k in range(2)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    together = evaluator.grade_sharing(problem, [1, 2])
    spread = evaluator.grade_sharing(problem, [1, 2], start_spread_s=16.0, request_overhead_s=0.05)
    assert together.outcomes[0] is not None
    latency = together.outcomes[0].transfer_s - 1.6
    assert [o.transfer_s for o in spread.outcomes if o] == pytest.approx(
        [latency + 0.05 + 0.8 * 1.0975] * 2
    )


def test_pods_with_room_start_one_after_another_over_the_window() -> None:
    # Three 600m pods on two 1000m nodes: a and c have room at once (c on e2), b waits for a's
    # room on e1. a and c start evenly over a 2 s window centred on the 1 s pod start (0 and
    # 2 s); b starts 1 s after a's work ends, as without a window.
    cluster = model.ClusterState([edge("e1", cpu=1000), edge("e2", cpu=1000)])
    pods = [pod(name, cpu=600, compute_cost=600.0) for name in ("a", "b", "c")]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    nodes = [0, 0, 1]
    assert evaluator.room_at_once(problem, {0: [0, 1], 1: [2]}) == [0, 2]
    graded = evaluator.grade_sharing(problem, nodes, pod_start_s=1.0, start_spread_s=2.0)
    waits = [o.waiting_s for o in graded.outcomes if o]
    together = evaluator.grade_sharing(problem, nodes, pod_start_s=1.0)
    assert waits[0] == pytest.approx(0.0)
    assert waits[2] == pytest.approx(2.0)
    # a runs 0.6 s alone (600 units at 1000/s) from 0: b is admitted at 0.6 and starts at 1.6.
    assert waits[1] == pytest.approx(1.6)
    assert [o.waiting_s for o in together.outcomes if o] == pytest.approx([1.0, 2.6, 1.0])


def test_a_window_never_starts_a_pod_before_its_arrival() -> None:
    cluster = model.ClusterState([edge(f"e{k}", cpu=1000) for k in range(3)])
    pods = [pod(f"p{k}", compute_cost=100.0) for k in range(3)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    starts = evaluator.staggered_starts(problem, {0: [0], 1: [1], 2: [2]}, 0.5, 4.0)
    assert starts == {0: 0.0, 1: 0.5, 2: 2.5}


def test_data_on_the_pods_own_node_pays_no_request_overhead() -> None:
    cluster = model.ClusterState([edge("e1")])
    local = pod("local", data_source="e1", data_size_mb=10.0)
    problem = evaluator.Problem([local], cluster, CONFIG)
    graded = evaluator.grade_sharing(problem, [0], request_overhead_s=0.5)
    assert graded.outcomes[0] is not None
    assert graded.outcomes[0].transfer_s == 0.0


def test_the_pod_start_is_the_wait_and_the_deadline_is_judged_on_the_sum() -> None:
    cluster = model.ClusterState([edge("e1", cpu=1000)])
    quick = pod("quick", compute_cost=500.0, max_latency_ms=1000.0)
    graded = grade([quick], ["e1"], cluster, start=0.4)
    late = grade([quick], ["e1"], cluster, start=0.6)
    outcome, missed = graded.outcomes[0], late.outcomes[0]
    assert outcome is not None
    assert missed is not None
    assert (outcome.waiting_s, outcome.ect_s, outcome.deadline_met) == (0.4, 0.9, True)
    assert (missed.ect_s, missed.deadline_met) == (pytest.approx(1.1), False)


def test_an_unplaced_pod_has_no_outcome_and_loads_nobody() -> None:
    cluster = model.ClusterState([edge("e1", cpu=1000)])
    pods = [pod("a", compute_cost=1000.0), pod("b", compute_cost=1000.0)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    graded = evaluator.grade_sharing(problem, [0, None])
    assert graded.outcomes[1] is None
    assert graded.outcomes[0] is not None
    assert graded.outcomes[0].processing_s == pytest.approx(1.0)


def test_both_readings_give_plain_python_values_that_serialize() -> None:
    # The testbed writes each outcome to JSON: a numpy bool there fails the whole run's write.
    cluster = model.ClusterState([edge("e1", cpu=1000)])
    pods = [pod("a", compute_cost=500.0, max_latency_ms=1000.0)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    for graded in (
        evaluator.grade_assignment(problem, [0]),
        evaluator.grade_sharing(problem, [0], pod_start_s=0.1),
    ):
        outcome = graded.outcomes[0]
        assert outcome is not None
        assert type(outcome.deadline_met) is bool
        json.dumps(dataclasses.asdict(outcome))


def test_a_pod_that_does_not_fit_beside_the_others_waits_for_room_in_arrival_order() -> None:
    # 600m + 600m on a 1000m node: the second starts when the first ends, then runs alone;
    # a 300m pod that arrives third fits beside the first and starts at once. Every pod takes
    # 0.5 s to start and holds its room from then on.
    cluster = model.ClusterState([edge("e1", cpu=1000)])
    pods = [
        pod("first", cpu=600, compute_cost=1000.0),
        pod("second", cpu=600, compute_cost=1000.0),
        pod("small", cpu=300, compute_cost=500.0),
    ]
    graded = grade(pods, ["e1", "e1", "e1"], cluster, start=0.5)
    first, second, small = graded.outcomes
    assert first is not None
    assert second is not None
    assert small is not None
    # first and small share 2:1 by their requests (600:300) until small's 500 units are
    # done at 1.5 s; first, with 1000 units at 2/3 of the node, has 0 left then too.
    assert small.waiting_s == pytest.approx(0.5)
    assert small.processing_s == pytest.approx(1.5)
    assert first.processing_s == pytest.approx(1.5)
    assert second.waiting_s == pytest.approx((0.5 + 1.5) + 0.5)
    assert second.processing_s == pytest.approx(1.0)


def test_a_pod_still_moving_its_data_does_not_take_a_share_of_the_cpu() -> None:
    cluster = model.ClusterState([edge("e1", cpu=1000), cloud("c1")])
    pods = [
        pod("fetching", data_source="c1", data_size_mb=10.0, compute_cost=0.0),
        pod("computing", compute_cost=1000.0),
    ]
    graded = grade(pods, ["e1", "e1"], cluster)
    computing = graded.outcomes[1]
    assert computing is not None
    assert computing.processing_s == pytest.approx(1.0)


def test_a_node_starting_more_pods_at_once_starts_each_later() -> None:
    # Three 300m pods on e1 (all fit at once) and one on e2: with 0.5 s plus 1 s per pod the
    # node starts together, e1's take 3.5 s and e2's 1.5 s. A pod admitted later, when room
    # frees, counts the pods its node is still starting beside itself.
    cluster = model.ClusterState([edge("e1", cpu=1000), edge("e2", cpu=1000)])
    pods = [pod(f"p{k}", cpu=300, compute_cost=100.0) for k in range(4)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    nodes = [0, 0, 0, 1]
    assert evaluator.starting_together(problem, {0: [0, 1, 2], 1: [3]}) == {
        0: 3,
        1: 3,
        2: 3,
        3: 1,
    }
    graded = evaluator.grade_sharing(problem, nodes, pod_start_s=0.5, start_per_pod_s=1.0)
    assert [o.waiting_s for o in graded.outcomes if o] == pytest.approx([3.5, 3.5, 3.5, 1.5])
    # No per-pod part: the one pod start for every pod, as before.
    flat = evaluator.grade_sharing(problem, nodes, pod_start_s=0.5)
    assert [o.waiting_s for o in flat.outcomes if o] == pytest.approx([0.5] * 4)


def test_pods_admitted_as_room_frees_count_those_still_starting() -> None:
    # 600m pods on a 1000m node, one at a time: each is admitted alone, once the one before
    # it ends, so each pays the start of one pod; a 300m pod fits beside the first and
    # starts with it (two at once).
    cluster = model.ClusterState([edge("e1", cpu=1000)])
    pods = [
        pod("first", cpu=600, compute_cost=1000.0),
        pod("second", cpu=600, compute_cost=1000.0),
        pod("small", cpu=300, compute_cost=0.0),
    ]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    runs = evaluator.run_node(
        [(q, 0.0, p.compute_cost, 1.0, problem.requests[q]) for q, p in enumerate(pods)],
        rate=1000.0,
        free=problem.free[0],
        start_s=0.5,
        start_per_pod_s=1.0,
    )
    # first and small start together: 0.5 + 2 x 1 s. first runs alone 1 s (small has no
    # work): ends at 3.5; second is admitted alone then and starts 1.5 s later.
    assert runs[0] == pytest.approx((2.5, 1.0))
    assert runs[2][0] == pytest.approx(2.5)
    assert runs[1] == pytest.approx((3.5 + 1.5, 1.0))


class TestReleasedSharing:
    def test_jobs_released_together_share_the_server_as_shared_finish_says(self) -> None:
        took = evaluator.released_sharing([0.0, 0.0, 0.0], [1.0, 3.0, 2.0])
        expected = [evaluator.shared_finish([1.0, 3.0, 2.0], [1.0] * 3, k) for k in range(3)]
        assert took == pytest.approx(expected)

    def test_a_job_released_after_the_other_ended_runs_alone(self) -> None:
        assert evaluator.released_sharing([0.0, 5.0], [1.0, 1.0]) == pytest.approx([1.0, 1.0])

    def test_a_job_released_midway_shares_what_is_left(self) -> None:
        # Job 0 (2 s alone) runs alone for 1 s, then shares with job 1 (1 s alone): both
        # have 1 s left at half rate, so both end 2 s later: 3 s for job 0, 2 s for job 1.
        took = evaluator.released_sharing([0.0, 1.0], [2.0, 1.0])
        assert took == pytest.approx([3.0, 2.0])

    def test_release_order_not_list_order_decides(self) -> None:
        assert evaluator.released_sharing([1.0, 0.0], [1.0, 2.0]) == pytest.approx([2.0, 3.0])

    def test_an_empty_job_takes_no_time(self) -> None:
        assert evaluator.released_sharing([0.0, 0.0], [0.0, 1.0]) == pytest.approx([0.0, 1.0])


class TestSharedStarts:
    def test_nodes_share_the_cpu_equally_and_their_pods_share_their_node(self) -> None:
        # e0 starts one pod, e1 two, all bound at 0, 1 s of work each: e0's share is half the
        # CPU until it is done at 2 s, by when e1's pods have had 0.5 s each; then e1 has it
        # all and they end together 1 s later.
        done = evaluator.shared_starts([(0, 0, 0.0), (1, 1, 0.0), (2, 1, 0.0)], 1.0)
        assert done == pytest.approx({0: 2.0, 1: 3.0, 2: 3.0})

    def test_a_pod_bound_after_the_others_are_done_starts_alone(self) -> None:
        assert evaluator.shared_starts([(0, 0, 0.0), (1, 0, 5.0)], 1.0) == pytest.approx(
            {0: 1.0, 1: 6.0}
        )

    def test_no_start_work_starts_each_pod_at_its_bind(self) -> None:
        assert evaluator.shared_starts([(0, 0, 0.5), (1, 1, 2.0)], 0.0) == {0: 0.5, 1: 2.0}


def test_from_the_bind_a_pod_waits_for_its_bind_then_its_shared_start() -> None:
    # Two 300m pods on e1, bound at 0 and 4 s, one on e2 bound at 0; 1 s of start work and a
    # 0.5 s base: e1's first and e2's share the CPU (done at 2 s), e1's second starts alone.
    cluster = model.ClusterState([edge("e1", cpu=1000), edge("e2", cpu=1000)])
    pods = [pod(f"p{k}", cpu=300, compute_cost=100.0) for k in range(3)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    graded = evaluator.grade_sharing(
        problem, [0, 0, 1], pod_start_s=0.5, start_per_pod_s=1.0, bound_at_s=[0.0, 4.0, 0.0]
    )
    assert [o.waiting_s for o in graded.outcomes if o] == pytest.approx([2.5, 5.5, 2.5])


def test_from_the_bind_transfers_share_a_link_only_while_both_are_in_flight() -> None:
    # Two pods fetch 10 MB each from c1 into e1 (100 Mbit/s, 0.8 s alone). Bound together,
    # they fetch together (1.6 s each, as when every pod is taken to start at once); bound
    # 5 s apart, each fetches alone.
    cluster = model.ClusterState([edge("e1"), cloud("c1")])
    pods = [pod(f"r{k}", data_source="c1", data_size_mb=10.0) for k in range(2)]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    alone = evaluator.grade_sharing(evaluator.Problem(pods[:1], cluster, CONFIG), [0])
    assert alone.outcomes[0] is not None
    latency = alone.outcomes[0].transfer_s - 0.8

    def transfers(bound: list[float]) -> list[float]:
        graded = evaluator.grade_sharing(problem, [0, 0], start_per_pod_s=0.0, bound_at_s=bound)
        return [o.transfer_s for o in graded.outcomes if o]

    assert transfers([0.0, 0.0]) == pytest.approx([latency + 1.6, latency + 1.6])
    assert transfers([0.0, 5.0]) == pytest.approx([latency + 0.8, latency + 0.8])
    # Half a second apart: the first fetches alone for 0.5 s, then both share the link.
    assert transfers([0.0, 0.5]) == pytest.approx([latency + 1.1, latency + 1.1])
