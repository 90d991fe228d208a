"""The scoring core's shortcuts against plain-Python statements of the same rules.

``evaluate`` keeps only the feasible mask up to date and resolves failure codes lazily,
stores usage resource-major, caches per-source transfer coefficients and picks the best node
without gathering. Each shortcut is checked here against the rule it implements, written
node by node.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_builders import cloud, edge, pod

from cloudedge import model
from cloudedge.model import filters, scoring, terms

masks = st.lists(st.booleans(), min_size=6, max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    base=st.lists(st.sampled_from([0, 1, 2, 3]), min_size=6, max_size=6),
    fails=st.lists(st.tuples(masks, st.sampled_from([4, 5, 6, 7, 8]), st.booleans()), max_size=4),
    extra=st.lists(masks, max_size=2),
)
def test_lazy_codes_are_the_first_failed_filter(
    base: list[int],
    fails: list[tuple[list[bool], int, bool]],
    extra: list[list[bool]],
) -> None:
    result = filters.FilterResult(6, base=np.array(base, dtype=np.int8))
    for mask, code, hard in fails:
        result.fail(np.array(mask), code, unresolvable=hard)
    for mask in extra:
        result.add_unresolvable(np.array(mask))
    for i in range(6):
        first, hard_first = base[i], base[i] == filters.NO_TIER
        for mask, code, hard in fails:
            if first == filters.PASS and mask[i]:
                first, hard_first = code, hard
        assert result.code[i] == first
        assert bool(result.feasible[i]) is (first == filters.PASS)
        assert bool(result.unresolvable[i]) is (hard_first or any(m[i] for m in extra))


def _evaluation(scores: list[float], ects: list[float], feasible: list[bool]) -> scoring.Evaluation:
    n = len(scores)
    result = filters.FilterResult(n)
    result.fail(~np.array(feasible, dtype=bool), filters.RESOURCES, unresolvable=False)
    zeros = np.zeros(n)
    ect = np.array(ects)
    return scoring.Evaluation(
        pod=pod("p"),
        node_names=[f"n{i}" for i in range(n)],
        result=result,
        terms=(),
        values={"transfer": ect},
        goodness={},
        ect=ect,
        time_good=zeros,
        scores=np.where(feasible, scores, 0.0),
    )


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([0.0, 10.0, 50.0, 50.0 + 1e-12, 99.5, 100.0]),
            st.sampled_from([0.1, 0.2, 0.2, 3.0]),
            st.booleans(),
        ),
        max_size=8,
    )
)
def test_best_is_the_top_score_then_the_shortest_ect_then_the_first(
    rows: list[tuple[float, float, bool]],
) -> None:
    ev = _evaluation([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    candidates = [i for i, r in enumerate(rows) if r[2]]
    if not candidates:
        assert ev.best() is None
        return
    top = max(rows[i][0] for i in candidates)
    tied = [i for i in candidates if rows[i][0] >= top - scoring.SCORE_TIE]
    expected = min(tied, key=lambda i: (rows[i][1], i))
    assert ev.best() == expected


def test_best_of_no_nodes_is_none() -> None:
    assert _evaluation([], [], []).best() is None


def test_used_is_a_node_major_view_of_the_resource_major_usage() -> None:
    state = model.ClusterState([edge("a"), cloud("b")])
    copy = state.copy()
    copy.assign((250.0, 1024.0, 1.0), 1)
    assert copy.usage.shape == (3, 2)
    assert copy.used[1].tolist() == [250.0, 1024.0, 1.0]
    assert copy.usage[:, 1].tolist() == [250.0, 1024.0, 1.0]
    assert state.used.sum() == 0, "a copy has its own usage"
    copy.release((500.0, 0.0, 1.0), 1)
    assert copy.used[1].tolist() == [0.0, 1024.0, 0.0], "usage never goes below zero"


@settings(max_examples=150, deadline=None)
@given(
    moves=st.lists(
        st.tuples(
            st.booleans(),
            st.integers(0, 2),
            st.sampled_from([0.0, 250.0, 1000.0, 4000.0, 20000.0]),
            st.sampled_from([0.0, 2.0**30, 64.0 * 2**30]),
        ),
        max_size=12,
    )
)
def test_headroom_and_inverse_free_cpu_follow_the_usage(
    moves: list[tuple[bool, int, float, float]],
) -> None:
    state = model.ClusterState([edge("a"), edge("b"), cloud("c")])
    copies = [state]
    for add, node, cpu, mem in moves:
        target = copies[-1].copy() if add and node == 2 else copies[-1]
        if add:
            target.assign((cpu, mem, 1.0), node)
        else:
            target.release((cpu, mem, 1.0), node)
        copies.append(target)
    for s in copies:
        assert np.array_equal(s.headroom, s.allocatable_fit - s.usage)
        free = np.maximum(s.allocatable[:, 0] - s.usage[0], 1e-12)
        assert np.array_equal(s.inv_free_cpu, 1.0 / free)
        req = np.array([[500.0], [2.0**30], [1.0]])
        assert np.array_equal(req > s.headroom, s.usage + req > s.allocatable_fit)


def test_cached_transfer_coefficients_are_shared_by_copies_and_read_only() -> None:
    state = model.ClusterState([edge("cam"), cloud("cloud-1")])
    reader = pod("p", data_source="cam", data_size_mb=0.0)
    term = terms.TransferTime()
    first = term.compute(reader, state)
    again = term.compute(reader, state.copy())
    assert again is first, "nodes and topology are shared by copies: so is the cache"
    assert first[0] == 0.0, "the data is on that node"
    with pytest.raises(ValueError, match="read-only"):
        first[1] = 1.0
    ev = model.evaluate(reader, state, model.ModelConfig())
    assert ev.ect[1] >= first[1] > 0


@settings(max_examples=100, deadline=None)
@given(
    cpu=st.sampled_from([100.0, 1500.0, 2500.0, 9000.0]),
    mem=st.sampled_from([0.0, 3.0 * 2**30, 40.0 * 2**30]),
    tier=st.sampled_from([None, model.Tier.CLOUD, model.Tier.EDGE]),
)
def test_reason_texts_are_the_joined_reasons_of_each_node(
    cpu: float, mem: float, tier: model.Tier | None
) -> None:
    state = model.ClusterState(
        [edge("e1", cpu=1000), edge("e2", cpu=2000), cloud("c1"), cloud("c2", cpu=2000)]
    )
    state.assign((900.0, 1.0 * 2**30, 1.0), 1)
    ev = model.evaluate(pod("p", cpu=cpu, mem=mem, tier=tier), state, model.ModelConfig())
    for rows in (
        np.array([3, 0, 2, 1, 0], dtype=np.int64),  # few: node by node
        np.array([3, 0, 2, 1, 0] * (filters.FEW_ROWS // 2), dtype=np.int64),  # many: grouped
    ):
        expected = [", ".join(ev.result.reason(int(i))) for i in rows]
        assert ev.result.reason_texts(rows).tolist() == expected
