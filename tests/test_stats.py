"""irlens.stats: the sign-flip test by hand (exact enumeration, ties, the floor, the Monte-Carlo branch)."""

from __future__ import annotations

import numpy as np
import pytest

from irlens.stats import sign_flip_p


def test_sign_flip_p_by_hand():
    # x = (1, 2, 3): the 8 signed sums are 6, 4, 2, 0, 0, −2, −4, −6; only the observed 6 is ≥ 6 → p = 1/8
    assert sign_flip_p([1, 2, 3]) == (pytest.approx(1 / 8), pytest.approx(1 / 8))
    # x = (1, −1): signed sums 0, 2, −2, 0; three are ≥ the observed 0 → 3/4, floor 1/4
    assert sign_flip_p([1, -1]) == (pytest.approx(3 / 4), pytest.approx(1 / 4))
    # all zeros: every sign vector ties with the observed mean → p = 1 (no evidence), not 0
    assert sign_flip_p([0.0, 0.0, 0.0])[0] == 1.0
    assert all(np.isnan(sign_flip_p([])))


def test_sign_flip_p_monte_carlo_is_seeded_and_near_the_exact_value():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 1.0, size=16)
    exact, floor = sign_flip_p(x)  # 2^16 sign vectors
    assert floor == pytest.approx(2.0**-16)
    mc = sign_flip_p(x, exact_max=0, n_perm=20000, seed=3)
    assert mc == sign_flip_p(x, exact_max=0, n_perm=20000, seed=3)
    assert mc[1] == pytest.approx(1 / 20001) and abs(mc[0] - exact) < 0.01
    # 30 positive differences: no random sign vector beats them, p = 1 / (n_perm + 1), the floor
    assert sign_flip_p(np.ones(30), n_perm=999)[0] == pytest.approx(1 / 1000)
