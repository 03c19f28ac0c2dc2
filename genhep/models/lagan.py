"""LAGAN: the location-aware GAN for jet images (de Oliveira, Paganini, Nachman 1701.05927).

Jet images are not translation invariant: the leading subjet sits at the centre, the second one
below it after LAGAN's rotation, and the pixel pT falls steeply away from them. LAGAN therefore
replaces most convolutions by *locally connected* layers (:class:`LocallyConnected2d`, filters
not shared across positions) and is an ACGAN (Odena et al. 1610.09585): the generator is told
the class (QCD background or W′ signal) and the discriminator has an auxiliary head that
predicts it. As the authors' Keras code (hep-lbdl/adversarial-jets, ``models/networks/lagan.py``
and ``models/train.py``), with default channel counts, LeakyReLU slope 0.3 (the Keras default),
batch norm with Keras' momentum 0.99 and ε = 10⁻³, on 25×25 images:

Generator, ``z ~ N(0, 1)`` ``(B, 200)`` and class ``y``:
    ``z ⊙ embedding(y)`` → dense → ``(128, 7, 7)`` → conv 5×5 (64) → LeakyReLU → BN → upsample
    → ``14×14`` → locally connected 5×5 'same' (6) → LeakyReLU → BN → upsample → ``28×28`` →
    locally connected 3×3 (6) → LeakyReLU → ``26×26`` → locally connected 2×2 (1, no bias) →
    ReLU → ``(1, 25, 25)``. The final ReLU keeps pixels ``>= 0`` and exactly 0 where it clips
    (sparse images).
Discriminator, image ``(B, 1, 25, 25)``:
    conv 5×5 'same' (32) → LeakyReLU → dropout 0.2 → locally connected 5×5 'same' stride 2 (8)
    → ``13×13`` → LeakyReLU → BN → dropout → locally connected 5×5 'same' (8) → LeakyReLU → BN
    → dropout → locally connected 3×3 'same' stride 2 (8) → ``7×7`` → LeakyReLU → BN → dropout →
    average pool 2 → ``(8, 3, 3)`` → flatten (72) → minibatch discrimination (20 kernels of
    dimension 10) → ``[72 + 20]`` → real/fake logit and (ACGAN) class logits.
Initialisation as the Keras code: He-uniform for the generator's convolution and first two
locally connected layers, Glorot-normal for its last layer and the class embedding, Glorot-uniform
elsewhere; biases zero (fans per position, ``C_in·k²`` and ``C_out·k²``).

Training (``models/train.py``), per batch of B real images: the discriminator takes one Adam
step on the real batch and one on a batch of B generated images (never mixed: batch norm and
minibatch features would leak which is which), with binary cross entropy for real/fake plus the
auxiliary class cross entropy on both; then the generator takes ``generator_steps`` (2) steps on
fresh noise, each minimising the cross entropy of "real" plus the auxiliary loss of its class.
Generated classes are drawn uniformly (LAGAN's flat prior). Label noise as the authors did:
the discriminator's real/fake targets and the classes of its generated batch are flipped with
probability ``label_flip`` (5 %), the classes the generator is trained to show with
``generator_aux_flip`` (9 %); the real images' classes are never flipped. Adam, lr 2·10⁻⁴,
β = (0.5, 0.999), for both networks. The two-class auxiliary head is two softmax logits
(LAGAN: one sigmoid unit; the same model), which also serves ``cond_dim > 2``. Without a
condition (``data.classes`` signal or background, ``cond_dim = 0``) the model is a plain GAN:
one learned embedding and no auxiliary head or loss.

Scaling: LAGAN trains on pixel pT / 100 GeV (``X / 100`` in ``models/train.py``, after setting
pixels below 2.7·10⁻⁹ GeV to zero, a cut genhep's data family does not make: such pixels only
change occupancy counts), i.e. ``data.transform=scale data.scale=100``; the model itself
works in whatever space the data family's transform gives (``scale``, ``log`` or ``none``, all
``>= 0`` with exact zeros). Image sizes: the networks are built for 25×25; for 28×28 data (the
25×25 image zero-padded 1 before and 2 after on both axes) the generator's 25×25 output is
padded the same way and the discriminator sees the central 25×25 crop, whose padding is zero in
the data too.

Logged: ``train/d_loss`` (the discriminator's real/fake cross entropy, mean of its real and
generated steps), ``train/g_loss`` (the generator's real/fake cross entropy), and when
conditional ``train/aux_loss`` (the auxiliary cross entropy on real images) and
``train/g_aux_loss`` (on generated images, in the generator's steps). ``val/loss`` and
``test/loss`` are the GAN value function ``V(D, G) = E log D(x) + E log(1 − D(G(z)))`` on the
split's images and as many generated ones (fixed noise per batch index): the minimax objective
the generator minimises, −2 log 2 ≈ −1.386 when the discriminator cannot tell. It moves with the
discriminator too, so it is not a sample-quality measure (the evaluation callback's physics
metrics are); a checkpoint chosen by it is the one whose discriminator was most fooled. Both
networks run in eval mode there (and in :meth:`~LocationAwareGAN.sample`): with Keras' slow
batch-norm momentum the running statistics lag the training batches for the first few hundred
steps.
Training runs on :class:`~genhep.models.adversarial.AdversarialModel`: ``global_step`` counts
generator updates (``generator_steps`` per batch); the EMA (``ema``, off by default) averages
the generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genhep.models.adversarial import AdversarialModel
from genhep.models.base import OptimizerFactory, SchedulerFactory
from genhep.nn.locally_connected import LocallyConnected2d
from genhep.nn.minibatch_discrimination import MinibatchDiscrimination
from genhep.spec import DataSpec, family_problem, first_problem, image_problem

__all__ = ["LaganDiscriminator", "LaganGenerator", "LocationAwareGAN", "keras_init_"]

#: Side of the images the networks are built for (LAGAN's 25×25 grid).
IMAGE_SIDE = 25
_PROJECTED = 7  # side of the map the generator projects its input to


def _fans(layer: nn.Module) -> tuple[int, int]:
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    if isinstance(layer, nn.Embedding):
        return layer.num_embeddings, layer.embedding_dim
    receptive = math.prod(layer.kernel_size)
    return layer.in_channels * receptive, layer.out_channels * receptive


def keras_init_(layer: nn.Module, scheme: str) -> None:
    """Keras' ``he_uniform``, ``glorot_uniform`` or ``glorot_normal`` on ``layer.weight``
    (a Linear, Embedding, Conv2d or LocallyConnected2d); the bias, if any, to zero."""
    fan_in, fan_out = _fans(layer)
    if scheme == "he_uniform":
        bound = math.sqrt(6.0 / fan_in)
        nn.init.uniform_(layer.weight, -bound, bound)
    elif scheme == "glorot_uniform":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(layer.weight, -bound, bound)
    elif scheme == "glorot_normal":
        nn.init.normal_(layer.weight, std=math.sqrt(2.0 / (fan_in + fan_out)))
    else:
        raise ValueError(f"unknown initialisation {scheme!r}")
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)


class LaganGenerator(nn.Module):
    """``z`` ``(B, latent_dim)``, class ``(B,)`` int → image ``(B, 1, 25, 25)`` ``>= 0``.

    Args:
        latent_dim: dimension of ``z``.
        n_classes: rows of the class embedding multiplied into ``z`` (1: unconditional).
        channels: ``(c0, c1, c2, c3)``: the 7×7 projection, the 5×5 convolution and the 5×5 and
            3×3 locally connected layers (LAGAN: 128, 64, 6, 6).
        leaky_slope, bn_momentum, bn_eps: LeakyReLU slope; batch-norm momentum (PyTorch
            convention: weight of the new batch) and ε.
    """

    def __init__(
        self,
        latent_dim: int,
        n_classes: int,
        channels: Sequence[int],
        leaky_slope: float,
        bn_momentum: float,
        bn_eps: float,
    ) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.embedding = nn.Embedding(n_classes, latent_dim)
        self.project = nn.Linear(latent_dim, c0 * _PROJECTED * _PROJECTED)
        side = 2 * _PROJECTED  # after the first upsampling
        local_5 = LocallyConnected2d(c1, c2, side, 5, padding=2)
        local_3 = LocallyConnected2d(c2, c3, 2 * side, 3)
        self.net = nn.Sequential(
            nn.Conv2d(c0, c1, 5, padding=2),
            nn.LeakyReLU(leaky_slope),
            nn.BatchNorm2d(c1, eps=bn_eps, momentum=bn_momentum),
            nn.Upsample(scale_factor=2, mode="nearest"),
            local_5,
            nn.LeakyReLU(leaky_slope),
            nn.BatchNorm2d(c2, eps=bn_eps, momentum=bn_momentum),
            nn.Upsample(scale_factor=2, mode="nearest"),
            local_3,
            nn.LeakyReLU(leaky_slope),
            LocallyConnected2d(c3, 1, local_3.out_size, 2, bias=False),
            nn.ReLU(),
        )
        for layer in self.net:
            if isinstance(layer, (nn.Conv2d, LocallyConnected2d)):
                keras_init_(layer, "he_uniform")
        keras_init_(self.net[-2], "glorot_normal")
        keras_init_(self.embedding, "glorot_normal")
        keras_init_(self.project, "glorot_uniform")

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        h = self.project(z * self.embedding(labels))
        return self.net(h.reshape(len(z), -1, _PROJECTED, _PROJECTED))


class LaganDiscriminator(nn.Module):
    """Image ``(B, 1, 25, 25)`` → real/fake logit ``(B,)`` and class logits ``(B, n_classes)``
    (``None`` when ``n_classes`` is 0).

    Args:
        n_classes: width of the auxiliary head (0: none).
        channels: ``(c0, c1, c2, c3)``: the 5×5 convolution and the three locally connected
            layers (LAGAN: 32, 8, 8, 8).
        minibatch_kernels, minibatch_kernel_dim: K and D of the minibatch discrimination.
        dropout, leaky_slope, bn_momentum, bn_eps: as :class:`LaganGenerator`, plus the dropout
            rate after every block.
    """

    def __init__(
        self,
        n_classes: int,
        channels: Sequence[int],
        minibatch_kernels: int,
        minibatch_kernel_dim: int,
        dropout: float,
        leaky_slope: float,
        bn_momentum: float,
        bn_eps: float,
    ) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels

        def block(*layers: nn.Module, norm: int | None = None) -> list[nn.Module]:
            tail = [] if norm is None else [nn.BatchNorm2d(norm, eps=bn_eps, momentum=bn_momentum)]
            return [*layers, nn.LeakyReLU(leaky_slope), *tail, nn.Dropout(dropout)]

        local_1 = LocallyConnected2d(c0, c1, IMAGE_SIDE, 5, stride=2, padding=2)
        local_2 = LocallyConnected2d(c1, c2, local_1.out_size, 5, padding=2)
        local_3 = LocallyConnected2d(c2, c3, local_2.out_size, 3, stride=2, padding=1)
        self.features = nn.Sequential(
            *block(nn.Conv2d(1, c0, 5, padding=2)),
            *block(local_1, norm=c1),
            *block(local_2, norm=c2),
            *block(local_3, norm=c3),
            nn.AvgPool2d(2),
            nn.Flatten(),
        )
        pooled = math.prod(n // 2 for n in local_3.out_size)
        self.minibatch = MinibatchDiscrimination(
            c3 * pooled, minibatch_kernels, minibatch_kernel_dim
        )
        self.real_fake = nn.Linear(self.minibatch.out_features, 1)
        self.aux = nn.Linear(self.minibatch.out_features, n_classes) if n_classes else None
        for layer in self.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, LocallyConnected2d)):
                keras_init_(layer, "glorot_uniform")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        h = self.minibatch(self.features(x))
        return self.real_fake(h).squeeze(1), None if self.aux is None else self.aux(h)


class LocationAwareGAN(AdversarialModel):
    """``model=lagan`` for jet images (see the module docstring). No ``log_prob``.

    Args:
        data_spec: filled in by the runner (``(1, S, S)`` images, S >= 25; ``cond_dim`` 0 or
            the one-hot class width).
        latent_dim: dimension of the generator's noise (LAGAN: 200).
        generator_channels, discriminator_channels: see :class:`LaganGenerator` and
            :class:`LaganDiscriminator`.
        minibatch_kernels, minibatch_kernel_dim: minibatch discrimination K and D (20, 10).
        dropout: discriminator dropout rate (0.2).
        leaky_slope: LeakyReLU slope (0.3, the Keras default).
        bn_momentum, bn_eps: batch norm (PyTorch momentum 0.01 = Keras' 0.99; ε 10⁻³).
        label_flip: probability of flipping each discriminator real/fake target and each class
            of its generated batch (0.05).
        generator_aux_flip: probability of flipping each class the generator is trained to
            show (0.09).
        generator_steps: generator Adam steps per discriminator real + generated pair (2).
        optimizer: ``_partial_`` optimizer of the generator (and of the discriminator unless
            ``discriminator_optimizer`` is given).
        discriminator_optimizer: ``_partial_`` optimizer of the discriminator, or ``None``.
        scheduler: ``_partial_`` LR scheduler built for each optimizer, stepped once per epoch
            (no metric: not ``ReduceLROnPlateau``).
        ema: EMA decay of the generator's weights used for sampling (``None``: off).
    """

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return first_problem(
            family_problem(spec, "jet_images"), image_problem(spec, min_side=IMAGE_SIDE)
        )

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        latent_dim: int = 200,
        generator_channels: Sequence[int] = (128, 64, 6, 6),
        discriminator_channels: Sequence[int] = (32, 8, 8, 8),
        minibatch_kernels: int = 20,
        minibatch_kernel_dim: int = 10,
        dropout: float = 0.2,
        leaky_slope: float = 0.3,
        bn_momentum: float = 0.01,
        bn_eps: float = 1e-3,
        label_flip: float = 0.05,
        generator_aux_flip: float = 0.09,
        generator_steps: int = 2,
        optimizer: OptimizerFactory | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(
            data_spec, optimizer, discriminator_optimizer, scheduler, critic_steps=1, ema=ema
        )
        self.save_hyperparameters(ignore=["optimizer", "discriminator_optimizer", "scheduler"])
        shape = tuple(self.data_spec.event_shape)
        if self.data_spec.cond_dim == 1:
            raise ValueError("LAGAN's class conditioning needs a one-hot cond of >= 2 classes")
        if not (0.0 <= label_flip < 1.0 and 0.0 <= generator_aux_flip < 1.0):
            raise ValueError("label_flip and generator_aux_flip must be in [0, 1)")
        if generator_steps < 1:
            raise ValueError(f"generator_steps must be >= 1, got {generator_steps}")
        extra = shape[1] - IMAGE_SIDE
        self.padding = (extra // 2, extra - extra // 2)
        self.cond_dim = self.data_spec.cond_dim
        self.n_classes = max(self.cond_dim, 1)
        self.latent_dim, self.generator_steps = latent_dim, generator_steps
        self.label_flip, self.generator_aux_flip = label_flip, generator_aux_flip
        self.generator = LaganGenerator(
            latent_dim, self.n_classes, generator_channels, leaky_slope, bn_momentum, bn_eps
        )
        self.discriminator = LaganDiscriminator(
            self.cond_dim,
            discriminator_channels,
            minibatch_kernels,
            minibatch_kernel_dim,
            dropout,
            leaky_slope,
            bn_momentum,
            bn_eps,
        )

    # -- images and classes ------------------------------------------------------------

    def _crop(self, x: Tensor) -> Tensor:
        """``(B, 1, S, S)`` → the central ``(B, 1, 25, 25)`` the networks work on."""
        start = self.padding[0]
        return x[..., start : start + IMAGE_SIDE, start : start + IMAGE_SIDE]

    def _pad(self, x: Tensor) -> Tensor:
        """``(B, 1, 25, 25)`` → ``(B, 1, S, S)`` with zeros (the data family's padding)."""
        before, after = self.padding
        return F.pad(x, (before, after, before, after)) if after else x

    def _labels(self, cond: Tensor | None, n: int) -> Tensor:
        """Class indices ``(n,)`` from a one-hot ``cond`` ``(n, cond_dim)`` (zeros if none)."""
        if self.cond_dim == 0:
            return torch.zeros(n, dtype=torch.long, device=self.device)
        if cond is None:
            raise ValueError(f"this LAGAN is conditional: pass cond of shape (n, {self.cond_dim})")
        return cond.reshape(n, self.cond_dim).argmax(dim=1).to(self.device)

    def _flip_labels(self, labels: Tensor, probability: float) -> Tensor:
        """``labels`` with each replaced by another class with ``probability``."""
        if self.n_classes == 1:
            return labels
        shift = torch.randint(1, self.n_classes, labels.shape, device=labels.device)
        flip = torch.rand(labels.shape, device=labels.device) < probability
        return torch.where(flip, (labels + shift) % self.n_classes, labels)

    def _flip(self, target: Tensor) -> Tensor:
        """Real/fake ``target`` (0/1) with each flipped with ``label_flip``."""
        return torch.where(torch.rand_like(target) < self.label_flip, 1.0 - target, target)

    def _aux_loss(self, logits: Tensor | None, labels: Tensor) -> Tensor | None:
        return None if logits is None else F.cross_entropy(logits, labels)

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` images ``(n, 1, S, S)`` in model space, ``>= 0``; the generator's batch norm
        uses its running statistics (as Keras' ``predict``)."""
        labels = self._labels(cond, n)
        was_training = self.generator.training
        self.generator.eval()
        images = self.generator(torch.randn(n, self.latent_dim, device=self.device), labels)
        self.generator.train(was_training)
        return self._pad(images)

    # -- training ----------------------------------------------------------------------

    def _discriminator_loss(
        self, images: Tensor, target: Tensor, labels: Tensor, aux_name: str | None
    ) -> dict[str, Tensor]:
        logit, class_logits = self.discriminator(images)
        adversarial = F.binary_cross_entropy_with_logits(logit, target)
        aux = self._aux_loss(class_logits, labels)
        out = {"loss": adversarial if aux is None else adversarial + aux, "d_loss": adversarial}
        if aux is not None and aux_name is not None:
            out[aux_name] = aux
        return out

    def discriminator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        """One step on the real batch, then one on as many generated images (never mixed)."""
        real = self._crop(batch["x"])
        n = len(real)
        real_labels = self._labels(batch.get("cond"), n)
        fake_labels = torch.randint(0, self.n_classes, (n,), device=self.device)
        with torch.no_grad():
            fake = self.generator(torch.randn(n, self.latent_dim, device=self.device), fake_labels)
        yield self._discriminator_loss(real, self._flip(real.new_ones(n)), real_labels, "aux_loss")
        target = self._flip(real.new_zeros(n))
        yield self._discriminator_loss(
            fake, target, self._flip_labels(fake_labels, self.label_flip), None
        )

    def generator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        """``generator_steps`` steps, each on fresh noise and uniformly drawn classes."""
        n = len(batch["x"])
        for _ in range(self.generator_steps):
            labels = torch.randint(0, self.n_classes, (n,), device=self.device)
            images = self.generator(torch.randn(n, self.latent_dim, device=self.device), labels)
            logit, class_logits = self.discriminator(images)
            adversarial = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            aux = self._aux_loss(class_logits, self._flip_labels(labels, self.generator_aux_flip))
            out = {"loss": adversarial if aux is None else adversarial + aux, "g_loss": adversarial}
            if aux is not None:
                out["g_aux_loss"] = aux
            yield out

    # -- validation and test -----------------------------------------------------------

    def _value(self, batch: Mapping[str, Tensor], batch_idx: int, stage: str) -> None:
        """Log ``{stage}/loss`` = V(D, G) and, if conditional, ``{stage}/aux_loss``."""
        real = self._crop(batch["x"])
        n = len(real)
        noise = torch.Generator(device=self.device).manual_seed(batch_idx)
        labels = torch.randint(0, self.n_classes, (n,), generator=noise, device=self.device)
        z = torch.randn(n, self.latent_dim, generator=noise, device=self.device)
        logit_real, class_logits = self.discriminator(real)
        logit_fake, _ = self.discriminator(self.generator(z, labels))
        value = -F.binary_cross_entropy_with_logits(
            logit_real, torch.ones_like(logit_real)
        ) - F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
        options = {"sync_dist": True, "batch_size": n}
        self.log(f"{stage}/loss", value, prog_bar=stage == "val", **options)
        aux = self._aux_loss(class_logits, self._labels(batch.get("cond"), n))
        if aux is not None:
            self.log(f"{stage}/aux_loss", aux, **options)

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "test")
