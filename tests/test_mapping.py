"""The mapping network: identity at initialization, shapes, gradients, grid planner."""

from __future__ import annotations

import pytest
import torch

from sb3_metadqn import MapperConfig, MappingNetwork
from sb3_metadqn.nets import qnet


def random_layers(arch: qnet.Architecture, batch: int, seed: int = 0) -> qnet.Layers:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch, o, i, generator=gen), torch.randn(batch, o, generator=gen))
        for o, i in arch.layer_shapes
    ]


@pytest.mark.parametrize("net_arch", [(64, 64), (32,), (16, 8, 4)])
@pytest.mark.parametrize("grid", [False, True])
def test_identity_at_init_and_shapes(net_arch: tuple[int, ...], grid: bool) -> None:
    arch = qnet.Architecture(25, net_arch, 4)
    dim = 30 if grid else 7
    mapper = MappingNetwork(arch, dim, MapperConfig(rank=4, grid_size=5 if grid else None))
    source = random_layers(arch, 3)
    d_i, d_j = torch.rand(3, dim), torch.rand(3, dim)
    mapped = mapper(d_i, d_j, source)
    assert len(mapped) == len(arch.layer_shapes)
    for (w, b), (w0, b0), (o, i) in zip(mapped, source, arch.layer_shapes, strict=True):
        assert w.shape == (3, o, i)
        assert b.shape == (3, o)
        torch.testing.assert_close(w, w0)
        torch.testing.assert_close(b, b0)


def test_map_is_structured_not_dense() -> None:
    arch = qnet.Architecture(64, (64, 64), 4)
    mapper = MappingNetwork(arch, 10, MapperConfig(rank=8))
    total_params = sum(o * i + o for o, i in arch.layer_shapes)
    emitted = sum(head.out_features for head in mapper.heads)
    assert emitted < 20 * total_params  # linear in the widths, never P x P
    assert emitted < total_params**2 / 1000


@pytest.mark.parametrize("grid", [False, True])
def test_gradients_reach_phi_and_change_the_map(grid: bool) -> None:
    arch = qnet.Architecture(25, (16, 16), 4)
    dim = 30 if grid else 7
    mapper = MappingNetwork(arch, dim, MapperConfig(rank=4, grid_size=5 if grid else None))
    source = random_layers(arch, 2)
    d_i, d_j = torch.rand(2, dim), torch.rand(2, dim)
    obs = torch.eye(25).expand(2, 25, 25)
    optimizer = torch.optim.Adam(mapper.parameters(), lr=1e-2)
    for _ in range(3):
        q = qnet.batched_forward(mapper(d_i, d_j, source), obs, torch.nn.ReLU())
        loss = (q**2).mean()
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in mapper.parameters() if p.grad is not None]
        assert grads
        assert any(g.abs().sum() > 0 for g in grads)
        optimizer.step()
    mapped = mapper(d_i, d_j, source)
    assert not torch.allclose(mapped[0][0], source[0][0])


def test_grid_planner_needs_grid_layout() -> None:
    arch = qnet.Architecture(25, (16,), 4)
    with pytest.raises(ValueError, match="grid_size=5 needs a 30-dim grid descriptor"):
        MappingNetwork(arch, 12, MapperConfig(grid_size=5))


def test_mapped_parameters_depend_on_target_descriptor() -> None:
    arch = qnet.Architecture(25, (16,), 4)
    mapper = MappingNetwork(arch, 7, MapperConfig(rank=4))
    for head in mapper.heads:
        torch.nn.init.normal_(head.weight, std=0.1)
    source = random_layers(arch, 1)
    d_j = torch.rand(1, 7)
    a = mapper(torch.zeros(1, 7), d_j, source)
    b = mapper(torch.ones(1, 7), d_j, source)
    assert not torch.allclose(a[0][0], b[0][0])


def test_reset_to_identity() -> None:
    arch = qnet.Architecture(25, (16,), 4)
    mapper = MappingNetwork(arch, 30, MapperConfig(rank=4, grid_size=5))
    for parameter in mapper.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    source = random_layers(arch, 2)
    d = torch.rand(2, 30)
    assert not torch.allclose(mapper(d, d, source)[0][0], source[0][0])
    mapper.reset_to_identity()
    for (w, b), (w0, b0) in zip(mapper(d, d, source), source, strict=True):
        torch.testing.assert_close(w, w0)
        torch.testing.assert_close(b, b0)


def test_additive_map_adds_the_emitted_term_and_resets_to_identity() -> None:
    arch = qnet.Architecture(6, (8,), 3)
    mapper = MappingNetwork(arch, 4, MapperConfig(rank=2, additive=True))
    source = random_layers(arch, 2)
    d_i, d_j = torch.rand(2, 4), torch.rand(2, 4)
    for (w, b), (w0, b0) in zip(mapper(d_i, d_j, source), source, strict=True):
        torch.testing.assert_close(w, w0)  # identity at initialization
        torch.testing.assert_close(b, b0)
    with torch.no_grad():
        for shift in mapper.shift_heads:
            shift.bias.fill_(0.5)
    for (w, b), (w0, b0) in zip(mapper(d_i, d_j, source), source, strict=True):
        torch.testing.assert_close(w, w0 + 0.5)  # A = B = I: the map adds C, c only
        torch.testing.assert_close(b, b0 + 0.5)
    zero = [(torch.zeros_like(w), torch.zeros_like(b)) for w, b in source]
    assert all(bool((b == 0.5).all()) for _, b in mapper(d_i, d_j, zero))  # not from theta_j
    mapper.reset_to_identity()
    for (w, _), (w0, _) in zip(mapper(d_i, d_j, source), source, strict=True):
        torch.testing.assert_close(w, w0)
    plain = MappingNetwork(arch, 4, MapperConfig(rank=2))
    assert len(plain.shift_heads) == 0


def test_config_document_names_additive_only_when_set() -> None:
    assert "additive" not in MapperConfig().to_dict()  # documents of earlier artifacts
    assert MapperConfig(additive=True).to_dict()["additive"] is True
    assert MapperConfig.from_dict(MapperConfig(additive=True).to_dict()).additive
