"""mpgraph-clip, installed from plugins/clip: messages replaced by clipped ones on their way,
so that every node upstream backpropagates the clipped signal."""

import doctest

import mpgraph_clip
import numpy as np
import pytest
from mpgraph_anomaly import AnomalyError, detect_anomaly
from mpgraph_clip import clip_messages

import mpgraph as mg


def chain():
    g = mg.Graph()
    x = g.input("x", shape=(3,))
    with g.scope("head"):
        h = mg.ops.tanh(x, name="h")
        L = mg.ops.sum(h * 10.0, name="L")
    return g, x, L


def test_clipping_by_value_changes_what_flows_upstream():
    g, x, L = chain()
    at = np.array([0.1, -0.5, 2.0])
    with clip_messages(value=4.0) as clip:
        dx = g.grad(L, wrt=x, feed={"x": at})
    # the message 10 to h is clipped to 4, then h's vjp sends 4 (1 - tanh^2 x) to x
    np.testing.assert_allclose(dx, 4.0 * (1 - np.tanh(at) ** 2))
    assert clip.clipped == 1
    np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": at}), 10.0 * (1 - np.tanh(at) ** 2))


def test_clipping_by_norm_rescales_only_large_messages():
    g = mg.Graph()
    x = g.input("x", shape=(2,))
    L = x @ np.array([3.0, 4.0])  # the one message, to x, is (3, 4): norm 5
    with clip_messages(max_norm=1.0) as clip:
        np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": np.ones(2)}), [0.6, 0.8])
    with clip_messages(max_norm=10.0) as loose:
        np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": np.ones(2)}), [3.0, 4.0])
    assert (clip.clipped, loose.clipped) == (1, 0)


def test_scope_limits_clipping_to_messages_into_its_nodes():
    g, x, L = chain()
    at = np.zeros(3)
    with clip_messages(value=4.0, scope="elsewhere/") as clip:
        np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": at}), [10.0, 10.0, 10.0])
    with clip_messages(value=4.0, scope="head/") as clip_head:
        np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": at}), [4.0, 4.0, 4.0])
    assert (clip.clipped, clip_head.clipped) == (0, 1)


def test_clipping_and_anomaly_detection_work_together():
    g, x, L = chain()
    with clip_messages(value=1.0), detect_anomaly():
        np.testing.assert_allclose(g.grad(L, wrt=x, feed={"x": np.zeros(3)}), np.ones(3))
        with np.errstate(all="ignore"), pytest.raises(AnomalyError, match="node 'x'"):
            g.grad(L, wrt=x, feed={"x": np.array([np.nan, 0.0, 0.0])})


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="give value= or max_norm="):
        mpgraph_clip.ClipMessages()
    with pytest.raises(ValueError, match="max_norm must be positive, got -1"):
        mpgraph_clip.ClipMessages(max_norm=-1)


def test_the_documentation_examples_run():
    assert doctest.testmod(mpgraph_clip).failed == 0
