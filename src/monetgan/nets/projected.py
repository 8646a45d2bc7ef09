"""The projected critic of Projected GANs (Sauer et al. 2021, arXiv 2111.01007), as a Wasserstein critic.

    image -> frozen EfficientNet-Lite0 (strides 4, 8, 16, 32) -> frozen random projection
          -> one small trained convolutional head per scale -> the sum of the heads' scores

The projection mixes channels (a random 1x1 convolution per scale, "CCM") and scales (each coarser
map is upsampled, projected and added to the next finer one, "CSM"), so no head can lean on a few
dominant pretrained channels. It is random but fixed: drawn from the run's seed and held as buffers,
so it lies in every checkpoint and a resume or a rebuilt critic is exact. The feature network's
weights are pinned data and never enter a checkpoint.

The critic is split in two so that losses can work in feature space:
    critic.embed(image)    -> list of projected feature maps (no trained weights)
    critic.score(features) -> (B,) real-valued scores (the trained heads)
The WGAN-GP penalty is taken with respect to interpolated *features*, so the double backward stays
inside the small heads; the critic is then 1-Lipschitz in the projected feature space.

An optional fixed Gaussian low-pass (`blur_sigma`) sits in front of the feature network. The input
gradient of a net with strided convolutions is dominated by periods under 4 px (measured: about 70%
of its power, against 7% in the paintings), and a generator that follows it paints a diagonal
hatching. The low-pass removes those periods from what the critic sees and from the gradient the
generator gets, for real and generated images alike (StyleGAN3 and StyleGAN-XL blur the
discriminator's input for a similar reason).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .feature_network import TAP_CHANNELS, EfficientNetLite0, load_feature_network
from .layers import critic_norm_layer, gaussian_kernel, separable_blur

PROJECTED_CHANNELS = (64, 128, 256, 512)
MIN_INPUT_SIZE = 128  # per scale after cross-channel mixing (the paper's "expand")


class RandomProjection(nn.Module):
    """Fixed random cross-channel and cross-scale mixing of the four feature maps (no trained weights)."""

    def __init__(self, in_channels=TAP_CHANNELS, out_channels=PROJECTED_CHANNELS, generator: torch.Generator | None = None):
        super().__init__()
        g = generator or torch.Generator().manual_seed(0)
        for i, (c_in, c_out) in enumerate(zip(in_channels, out_channels)):
            # Kaiming-uniform 1x1 mixing (the fan-in scale keeps activations O(1) at every scale).
            self.register_buffer(f"channel_mix{i}", _kaiming_1x1(c_out, c_in, g))
        for i in range(len(out_channels) - 1):  # coarse scale i+1 -> fine scale i
            self.register_buffer(f"scale_mix{i}", _kaiming_1x1(out_channels[i], out_channels[i + 1], g))
        self.scales = len(out_channels)

    def forward(self, taps: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [F.conv2d(t, getattr(self, f"channel_mix{i}")) for i, t in enumerate(taps)]
        out = [mixed[-1]]
        for i in range(self.scales - 2, -1, -1):  # coarse to fine, as a feature pyramid
            up = F.interpolate(out[0], size=mixed[i].shape[-2:], mode="bilinear", align_corners=False)
            out.insert(0, mixed[i] + F.conv2d(up, getattr(self, f"scale_mix{i}")))
        return out


def _kaiming_1x1(c_out: int, c_in: int, g: torch.Generator) -> torch.Tensor:
    bound = (3.0 / c_in) ** 0.5  # U(-b, b) with b = sqrt(3 / fan_in): variance 1 / fan_in, so mixing keeps the scale
    return (torch.rand(c_out, c_in, 1, 1, generator=g) * 2 - 1) * bound


class ScaleHead(nn.Module):
    """(B, C, S, S) projected features -> (B,) score: strided 4x4 convolutions down to 4x4, then a 4x4 'valid' one."""

    def __init__(self, channels: int, size: int, norm: str, max_channels: int = 256):
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        while size > 4:
            c_out = min(max_channels, c * 2)
            layers += [nn.Conv2d(c, c_out, 4, 2, 1), critic_norm_layer(norm, c_out), nn.LeakyReLU(0.2)]
            c, size = c_out, size // 2
        layers.append(nn.Conv2d(c, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).flatten(1).sum(1)


class ProjectedCritic(nn.Module):
    """image (B, 3, R, R) in [-1, 1] -> score (B,): the sum of one head's score per feature scale."""

    def __init__(self, resolution: int, norm: str = "none", seed: int = 0, max_channels: int = 256,
                 feature_network: EfficientNetLite0 | None = None, blur_sigma: float = 0.0):
        super().__init__()
        self.resolution = resolution
        # Not persistent: it is a pure function of the config, so checkpoints stay as they were.
        self.register_buffer("blur_kernel", gaussian_kernel(blur_sigma), persistent=False)
        # Below 128 px the stride-32 map would be smaller than a head's 4x4: enlarge such images first.
        self.input_size = max(resolution, MIN_INPUT_SIZE)
        self.features = feature_network if feature_network is not None else load_feature_network()
        self.projection = RandomProjection(generator=torch.Generator().manual_seed(seed))
        sizes = [self.input_size // s for s in (4, 8, 16, 32)]
        self.heads = nn.ModuleList(ScaleHead(c, size, norm, max_channels)
                                   for c, size in zip(PROJECTED_CHANNELS, sizes))
        # The feature network is pinned data: keep it out of state_dict() and load_state_dict().
        self._register_state_dict_hook(_drop_feature_network)
        self.register_load_state_dict_post_hook(_ignore_missing_feature_network)

    def embed(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The projected feature maps (B, C_k, R/s_k, R/s_k) for s_k = 4, 8, 16, 32."""
        if self.blur_kernel.numel() > 1:
            image = separable_blur(image, self.blur_kernel)
        if image.shape[-1] < self.input_size:
            image = F.interpolate(image, size=self.input_size, mode="bilinear", align_corners=False)
        return self.projection(self.features(image))

    def score(self, features: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([head(f) for head, f in zip(self.heads, features)]).sum(0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.score(self.embed(image))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.heads.parameters())


def _drop_feature_network(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + "features.")]:
        del state_dict[key]
    return state_dict


def _ignore_missing_feature_network(module, incompatible_keys):
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not (k.startswith("features.") or ".features." in k)]
