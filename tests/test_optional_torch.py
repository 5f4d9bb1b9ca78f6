"""torch is optional: the server, the demo pair and the figures run without it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from crossmodel_matcher.store import derive


def test_dense_statistics_without_torch_equal_the_torch_ones():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xa = sp.random(600, 40, density=0.3, random_state=rng, format="csr", dtype=np.float32)
    xb = sp.random(600, 70, density=0.3, random_state=rng, format="csr", dtype=np.float32)
    prod_t, cof_t = derive._cross_dense_torch(xa, xb, None)
    prod_n, cof_n = derive._cross_dense_numpy(xa, xb, None)
    np.testing.assert_allclose(prod_n, prod_t, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(cof_n, cof_t)
    np.testing.assert_allclose(prod_n, (xa.T @ xb).toarray(), rtol=1e-5, atol=1e-5)


def test_dense_statistics_fall_back_to_numpy_when_torch_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    xa = sp.csr_matrix(np.array([[1, 0], [2, 3]], dtype=np.float32))
    xb = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 2]], dtype=np.float32))
    prod, cof = derive._cross_dense_torch(xa, xb, None)
    np.testing.assert_allclose(prod, [[2, 1, 5], [3, 0, 6]])
    np.testing.assert_array_equal(cof, [[1, 1, 2], [1, 0, 1]])


def test_torch_checkpoint_without_torch_names_the_extra(monkeypatch, tmp_path):
    from crossmodel_matcher.errors import InputError
    from crossmodel_matcher.store import checkpoint_reader

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InputError, match=r"needs torch.*\[import\]"):
        checkpoint_reader._read_state_dict(tmp_path / "sae.pth")


def test_serving_imports_neither_torch_nor_matplotlib():
    code = (
        "import sys\n"
        "import crossmodel_matcher.cli, crossmodel_matcher.server\n"
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_drawing_never_imports_torch():
    code = (
        "import sys\n"
        "import crossmodel_matcher.cli, crossmodel_matcher.server, crossmodel_matcher.figures.views\n"
        "import crossmodel_matcher.cli.report, crossmodel_matcher.demo\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
