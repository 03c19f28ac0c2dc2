"""Reusable network layers shared by the models.

Importing ``genhep.nn`` gives the layers a model is built from; the helpers inside each module
(shifts, masks, bin centres) stay in their module.
"""

from genhep.nn.autoregressive import OrderedPixelGRU
from genhep.nn.gradient_penalty import gradient_penalty
from genhep.nn.locally_connected import LocallyConnected2d
from genhep.nn.logistic_mixture import DiscretizedLogisticMixture
from genhep.nn.message_passing import MessagePassing, MessagePassingNetwork
from genhep.nn.minibatch_discrimination import MinibatchDiscrimination
from genhep.nn.mlp import mlp
from genhep.nn.orders import pixel_order, spiral_order
from genhep.nn.pixelcnn_layers import GatedResNet

__all__ = [
    "DiscretizedLogisticMixture",
    "GatedResNet",
    "LocallyConnected2d",
    "MessagePassing",
    "MessagePassingNetwork",
    "MinibatchDiscrimination",
    "OrderedPixelGRU",
    "gradient_penalty",
    "mlp",
    "pixel_order",
    "spiral_order",
]
