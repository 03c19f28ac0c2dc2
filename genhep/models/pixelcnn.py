"""PixelCNN++ for single-channel jet images (Salimans, Karpathy, Chen, Kingma 2017, 1701.05517).

p(x | c) = Π_{i,j} P(x_ij | x_<ij, c) in raster order (rows top to bottom, each left to right).

Network: two streams of gated residual blocks built from shifted convolutions
(:mod:`genhep.nn.pixelcnn_layers`) — ``u`` sees the rows above, ``ul`` the rows above and the
pixels to the left. An up pass of three blocks of ``n_resnet`` gated resnets at full, 1/2 and
1/4 resolution (strided shifted convolutions between them) stores every output; a down pass
of ``n_resnet``, ``n_resnet + 1``, ``n_resnet + 1`` gated resnets (transposed shifted
convolutions between them) consumes them as skip connections. A 1×1 convolution of
``elu(ul)`` gives each pixel's mixture parameters. Images are zero-padded at the bottom and
right to a multiple of 4 (25 → 28) for the two downsamplings, with a second input channel
marking the real pixels; padding is constant, so it carries no information about any pixel.
Optional class conditioning: a learned bias ``W h`` in every gated resnet (conditional
PixelCNN, van den Oord et al. 2016, 1606.05328).

Likelihood (:mod:`genhep.nn.logistic_mixture`): the transformed intensity ``y`` (``x`` of the
batch) is binned on [0, x_max] into ``n = 2**bits`` bins of width ``Δ = x_max / (n − 1)``,
bin ``k`` holding ``y ∈ [(k − ½)Δ, (k + ½)Δ)``; its centre ``kΔ`` maps linearly to
``−1 + 2k / (n − 1)`` on [−1, 1]. Bin 0 is centred on exact zero and, as the lowest bin of
PixelCNN++, takes all logistic mass below its upper edge; the highest bin takes all mass
above its lower edge (values above ``x_max`` fall into it). So empty pixels are bin 0 and
``y < Δ / 2`` (with the log transform ``log(1 + pT / s)``: ``pT ≲ s Δ / 2``) is rounded to 0.
``x_max`` is ``model.x_max`` or, when null, ``(1 + x_max_margin)`` times the largest
transformed training pixel (ln 2 for ``data.transform=log`` with ``scale_percentile=100``),
fitted when training starts and kept as a buffer in the checkpoint.

:meth:`log_prob` is the exact log probability, in nats, of the *binned* image — a discrete
likelihood, summed over the ``H·W`` pixels (the network also sees the binned earlier pixels);
``val/bits_per_dim`` is ``−log_prob / (H W ln 2)``. A density of ``y`` would be
``log_prob − H W log Δ``; likelihoods compare only between models with the same bins (``bits``,
``x_max``). :meth:`sample` draws pixel by pixel (``H·W`` forward passes of the
rows so far, batched over the events) and returns bin centres ``kΔ``: exactly 0 for bin 0, ≥ 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from genhep.models.base import OptimizerFactory, SchedulerFactory, TrainingData
from genhep.models.likelihood import LikelihoodModel
from genhep.nn.logistic_mixture import DiscretizedLogisticMixture, bin_centres
from genhep.nn.pixelcnn_layers import (
    DownRightShiftedConv2d,
    DownRightShiftedConvTranspose2d,
    DownShiftedConv2d,
    DownShiftedConvTranspose2d,
    GatedResNet,
    down_shift,
    network_in_network,
    right_shift,
)
from genhep.spec import DataSpec, family_problem, first_problem

#: Resolution levels of the u/ul streams (full, 1/2, 1/4): images are padded to this factor.
LEVELS = 3
PAD_MULTIPLE = 2 ** (LEVELS - 1)


class PixelCNNNetwork(nn.Module):
    """The PixelCNN++ u/ul network: ``(B, 1, H, W)`` on [−1, 1] (+ ``h`` ``(B, cond_dim)``) →
    ``(B, out_channels, H, W)``, output ``(i, j)`` depending only on pixels before ``(i, j)``
    in raster order.

    Args:
        out_channels: outputs per pixel (3 per mixture component).
        n_filters: channels of both streams.
        n_resnet: gated resnets per block of the up pass.
        cond_dim: condition size (0: unconditional).
        dropout: dropout probability inside the gated resnets.
        weight_norm: weight-normalise every convolution.
    """

    def __init__(
        self,
        out_channels: int,
        n_filters: int = 16,
        n_resnet: int = 1,
        cond_dim: int = 0,
        dropout: float = 0.0,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        f, wn = n_filters, weight_norm
        u_conv = partial(DownShiftedConv2d, kernel_size=(2, 3), weight_norm=wn)
        ul_conv = partial(DownRightShiftedConv2d, kernel_size=(2, 2), weight_norm=wn)
        resnet = partial(GatedResNet, f, cond_dim=cond_dim, dropout=dropout, weight_norm=wn)

        def blocks(sizes: list[int], conv: Callable[..., nn.Module], skip: int) -> nn.ModuleList:
            return nn.ModuleList(
                nn.ModuleList(resnet(conv, skip) for _ in range(size)) for size in sizes
            )

        self.u_first = DownShiftedConv2d(2, f, (2, 3), weight_norm=wn)
        self.ul_first_above = DownShiftedConv2d(2, f, (1, 3), weight_norm=wn)
        self.ul_first_left = DownRightShiftedConv2d(2, f, (2, 1), weight_norm=wn)
        self.up_u = blocks([n_resnet] * LEVELS, u_conv, 0)
        self.up_ul = blocks([n_resnet] * LEVELS, ul_conv, f)
        down_sizes = [n_resnet] + [n_resnet + 1] * (LEVELS - 1)
        self.down_u = blocks(down_sizes, u_conv, f)
        self.down_ul = blocks(down_sizes, ul_conv, 2 * f)
        levels = range(LEVELS - 1)
        self.downsample_u = nn.ModuleList(u_conv(f, f, stride=2) for _ in levels)
        self.downsample_ul = nn.ModuleList(ul_conv(f, f, stride=2) for _ in levels)
        self.upsample_u = nn.ModuleList(
            DownShiftedConvTranspose2d(f, f, weight_norm=wn) for _ in levels
        )
        self.upsample_ul = nn.ModuleList(
            DownRightShiftedConvTranspose2d(f, f, weight_norm=wn) for _ in levels
        )
        self.out = network_in_network(f, out_channels, wn)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """``x`` ``(B, 1, H, W)``, ``h`` ``(B, cond_dim)`` or None → ``(B, out_channels, H, W)``."""
        height, width = x.shape[-2:]
        x = torch.cat([x, torch.ones_like(x)], dim=1)
        x = F.pad(x, (0, -width % PAD_MULTIPLE, 0, -height % PAD_MULTIPLE))
        us = [down_shift(self.u_first(x))]
        uls = [down_shift(self.ul_first_above(x)) + right_shift(self.ul_first_left(x))]
        for level in range(LEVELS):
            if level:
                us.append(self.downsample_u[level - 1](us[-1]))
                uls.append(self.downsample_ul[level - 1](uls[-1]))
            for u_block, ul_block in zip(self.up_u[level], self.up_ul[level], strict=True):
                us.append(u_block(us[-1], h=h))
                uls.append(ul_block(uls[-1], us[-1], h))
        u, ul = us.pop(), uls.pop()
        for level in range(LEVELS):
            if level:
                u = self.upsample_u[level - 1](u)
                ul = self.upsample_ul[level - 1](ul)
            for u_block, ul_block in zip(self.down_u[level], self.down_ul[level], strict=True):
                u = u_block(u, us.pop(), h)
                ul = ul_block(ul, torch.cat([u, uls.pop()], dim=1), h)
        return self.out(F.elu(ul))[:, :, :height, :width]


class PixelCNNPlusPlus(LikelihoodModel):
    """``model=pixelcnn`` for jet images ``(1, H, W)``; see the module docstring.

    Args:
        data_spec: filled in by the runner.
        n_resnet: gated resnets per block of the up pass (the paper: 5); 0 leaves the down
            pass's 0, 1, 1.
        n_filters: channels of the u/ul streams (the paper: 160).
        n_components: logistic mixture components per pixel (the paper: 10).
        dropout: dropout probability in the gated resnets (the paper: 0.5).
        bits: ``2**bits`` intensity bins on [0, x_max].
        x_max: upper end of the binned range of the transformed intensity; ``None``: fitted.
        x_max_margin: the fitted ``x_max`` is ``(1 + x_max_margin)`` × the largest training pixel.
        min_log_scale: floor of the logistic log scales on the [−1, 1] scale.
        weight_norm: weight-normalise every convolution.
        optimizer, scheduler: ``_partial_`` factories.
        ema: EMA decay of the weights used for sampling (``None``: off; PixelCNN++ used
            Polyak averaging with 0.9995).
    """

    log_prob_kind = "discretised"

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        shape = spec.event_shape
        one_channel = len(shape) == 3 and shape[0] == 1
        return first_problem(
            family_problem(spec, "jet_images"),
            None if one_channel else f"it needs single-channel images (1, H, W), got {shape}",
        )

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        n_resnet: int = 1,
        n_filters: int = 16,
        n_components: int = 5,
        dropout: float = 0.0,
        bits: int = 12,
        x_max: float | None = None,
        x_max_margin: float = 0.05,
        min_log_scale: float = -7.0,
        weight_norm: bool = True,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if n_resnet < 0 or n_filters < 1 or n_components < 1:
            raise ValueError(
                "PixelCNN++ needs n_resnet >= 0, n_filters >= 1 and n_components >= 1, got "
                f"{n_resnet}, {n_filters}, {n_components}"
            )
        if bits < 1:
            raise ValueError(f"model.bits must be >= 1, got {bits}")
        if x_max is not None and not x_max > 0:
            raise ValueError(f"model.x_max must be > 0 or null (fitted), got {x_max}")
        self.cond_dim = self.data_spec.cond_dim
        self.n_bins, self.x_max_margin, self.min_log_scale = 2**bits, x_max_margin, min_log_scale
        self.register_buffer("x_max", torch.tensor(math.nan if x_max is None else float(x_max)))
        self.network = PixelCNNNetwork(
            3 * n_components, n_filters, n_resnet, self.cond_dim, dropout, weight_norm
        )

    # -- binning ------------------------------------------------------------------------

    def fit_x_max(self, x: Tensor) -> None:
        """Set ``x_max`` to ``(1 + x_max_margin)`` × the largest value of training images ``x``."""
        largest = float(x.max())
        if not largest > 0:
            raise ValueError(
                f"PixelCNN++ cannot fit x_max: the largest training pixel is {largest}"
            )
        self.x_max.fill_((1.0 + self.x_max_margin) * largest)

    def _bin_width(self) -> Tensor:
        if torch.isnan(self.x_max):
            raise RuntimeError(
                "PixelCNN++ x_max is not set: train the model (it is fitted on the training "
                "images), load a checkpoint or pass model.x_max"
            )
        return self.x_max / (self.n_bins - 1)

    def to_bins(self, x: Tensor) -> Tensor:
        """Integer bins ``(B, H, W)`` of transformed images ``x`` ``(B, 1, H, W)``."""
        if tuple(x.shape[1:]) != self.data_spec.event_shape:
            raise ValueError(
                f"PixelCNN++ expects images of shape (B, {', '.join(map(str, self.data_spec.event_shape))}), "
                f"got {tuple(x.shape)}"
            )
        bins = torch.round(x[:, 0].to(self.x_max) / self._bin_width())
        return bins.clamp(0, self.n_bins - 1).long()

    def from_bins(self, bins: Tensor) -> Tensor:
        """Transformed images ``(B, 1, H, W)`` at the centres ``kΔ`` of ``bins`` ``(B, H, W)``."""
        return (bins.to(self.x_max) * self._bin_width())[:, None]

    # -- the model ----------------------------------------------------------------------

    def _context(self, cond: Tensor | None, n: int) -> Tensor | None:
        if self.cond_dim == 0:
            return None
        if cond is None:
            raise ValueError(
                f"this PixelCNN++ is conditional: pass cond of shape (n, {self.cond_dim})"
            )
        return cond.to(self.x_max).reshape(n, self.cond_dim)

    def _conditionals(self, bins: Tensor, h: Tensor | None) -> DiscretizedLogisticMixture:
        inputs = bin_centres(bins, self.n_bins, self.x_max.dtype)[:, None]
        params = self.network(inputs, h).permute(0, 2, 3, 1)
        return DiscretizedLogisticMixture.from_params(params, self.n_bins, self.min_log_scale)

    def conditionals(self, x: Tensor, cond: Tensor | None = None) -> DiscretizedLogisticMixture:
        """Each pixel's predicted distribution given the pixels before it, batch shape
        ``(B, H, W)``, for transformed images ``x`` ``(B, 1, H, W)``."""
        return self._conditionals(self.to_bins(x), self._context(cond, len(x)))

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Exact log probability ``(B,)`` in nats of the binned images ``x`` ``(B, 1, H, W)``."""
        bins = self.to_bins(x)
        conditionals = self._conditionals(bins, self._context(cond, len(x)))
        return conditionals.log_prob(bins).sum(dim=(1, 2))

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` images ``(n, 1, H, W)`` in transformed space, drawn pixel by pixel."""
        h = self._context(cond, n)
        _, height, width = self.data_spec.event_shape
        bins = torch.zeros(n, height, width, dtype=torch.long, device=self.device)
        inputs = bin_centres(bins, self.n_bins, self.x_max.dtype)[:, None]
        with parametrize.cached():
            for i in range(height):
                for j in range(width):
                    # rows below i cannot influence row i: run the network on rows 0..i only
                    params = self.network(inputs[:, :, : i + 1], h)[:, :, i, j]
                    mixture = DiscretizedLogisticMixture.from_params(
                        params, self.n_bins, self.min_log_scale
                    )
                    bins[:, i, j] = mixture.sample()
                    inputs[:, 0, i, j] = bin_centres(bins[:, i, j], self.n_bins, inputs.dtype)
        return self.from_bins(bins)

    # -- training -----------------------------------------------------------------------

    def fit_to_data(self, data: TrainingData) -> None:
        """Fit ``x_max`` to the training images unless it is set."""
        if torch.isnan(self.x_max):
            self.fit_x_max(data.x)
