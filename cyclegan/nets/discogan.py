"""DiscoGAN's nets: a plain 4-down/4-up encoder-decoder (no skips) and a global discriminator
whose middle activations feed the feature-matching loss. All convs bias-free, BatchNorm."""
from torch import nn


def _encoder(in_ch: int, ndf: int, n_down: int) -> list[nn.Module]:
    layers = [nn.Conv2d(in_ch, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for i in range(1, n_down):
        cin, cout = ndf * 2 ** (i - 1), ndf * 2 ** i
        layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
    return layers


class DiscoGenerator(nn.Module):
    """Output is a sigmoid: DiscoGAN works on images in [0, 1]."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ngf: int = 64, n_down: int = 4):
        super().__init__()
        self.size_multiple = 2 ** n_down
        layers = _encoder(in_ch, ngf, n_down)
        for i in range(n_down - 1, 0, -1):
            cin, cout = ngf * 2 ** i, ngf * 2 ** (i - 1)
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ngf, out_ch, 4, 2, 1, bias=False), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class DiscoDiscriminator(nn.Module):
    """One probability per 64×64 image (a map for larger inputs); taps after layers 2, 3, 4."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, n_down: int = 4):
        super().__init__()
        self.min_side = 4 * 2 ** n_down   # the head's 4×4 valid conv needs 4×4 after n_down halvings
        enc = _encoder(in_ch, ndf, n_down)
        # Split so each stage ends on the activation that feature matching compares.
        self.stages = nn.ModuleList([nn.Sequential(*enc[:2])] +
                                    [nn.Sequential(*enc[2 + 3 * i: 5 + 3 * i]) for i in range(n_down - 1)])
        self.head = nn.Sequential(nn.Conv2d(ndf * 2 ** (n_down - 1), 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward_features(self, x):
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i > 0:
                feats.append(x)
        return self.head(x), feats

    def forward(self, x):
        return self.forward_features(x)[0]
