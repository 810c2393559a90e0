"""mpgraph-conv's own tests, as a plugin author writes them (docs/plugins.md).

``mpgraph_check_op`` comes with mpgraph (its pytest plugin): one line checks an op's shape
rule and its vjps against finite differences on every sample the op declares.
"""

import numpy as np
import pytest

import mpgraph as mg


@pytest.mark.parametrize(
    "name, n",
    [("conv2d", 5), ("conv1d", 3), ("conv_transpose2d", 3), ("max_pool2d", 3), ("avg_pool2d", 3)],
)
def test_op_on_its_samples(mpgraph_check_op, name, n):
    assert mpgraph_check_op(name, plugin="conv") == n


def test_conv2d_with_stride_and_padding(mpgraph_check_op):
    rng = np.random.default_rng(1)
    mpgraph_check_op(
        "conv2d",
        [rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))],
        {"stride": (2, 3), "padding": (1, 2)},
    )


def test_conv2d_of_a_one_by_one_kernel_is_a_channel_mix():
    x = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    w = np.arange(4 * 3, dtype=float).reshape(4, 3, 1, 1)
    want = np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0])
    np.testing.assert_allclose(mg.ops.conv2d(x, w), want)
