import pytest
import torch

from genhep.data.transforms import Compose, Identity, Standardize


def test_standardize_round_trip_and_moments():
    x = torch.randn(5000, 3, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor(
        [2.0, -1.0, 7.0]
    )
    t = Standardize().fit(x)
    z = t.forward(x)
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=z.dtype), atol=1e-10)
    assert torch.allclose(z.std(0), torch.ones(3, dtype=z.dtype), atol=1e-10)
    assert torch.allclose(t.inverse(z), x, atol=1e-12)


def test_standardize_uses_only_masked_entries():
    x = torch.randn(200, 30, 3, dtype=torch.float64) + 4.0
    mask = torch.rand(200, 30) > 0.5
    x[~mask] = 0.0
    t = Standardize().fit(x, mask=mask)
    assert torch.allclose(t.mean, x[mask].mean(0))


def test_standardize_constant_feature_gets_unit_scale():
    x = torch.ones(10, 2)
    t = Standardize().fit(x)
    assert torch.equal(t.std, torch.ones(2, dtype=torch.float64))
    assert torch.allclose(t.inverse(t.forward(x)), x)


def test_state_dict_round_trip_through_compose():
    x = torch.randn(100, 2)
    fitted = Compose([Identity(), Standardize()]).fit(x)
    fresh = Compose([Identity(), Standardize()])
    assert not fresh.fitted
    fresh.load_state_dict(fitted.state_dict())
    assert fresh.fitted
    assert torch.allclose(fresh.forward(x), fitted.forward(x))


def test_unfitted_standardize_fails_clearly():
    with pytest.raises(RuntimeError, match="before fit"):
        Standardize().forward(torch.zeros(2, 2))
