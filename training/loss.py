"""The StyleGAN2 objective: non-saturating logistic loss (Goodfellow et al. 2014) with
style-mixing regularisation, and lazy R1 on reals (Mescheder et al. 2018; lazy: every
`r1_interval` D steps, scaled up by the interval, StyleGAN2 section 3.1).
Path-length regularisation is left out: it costs a third of a G step for a small gain at 64x64."""
import torch
import torch.nn.functional as F

from .augment import diff_augment


class StyleGAN2Loss:
    def __init__(self,
        G, D,
        r1_gamma            = 0.1,      # R1 weight (gamma); small images want small gamma.
        style_mixing_prob   = 0.9,      # Probability of mixing two latents at a random layer (paper: 0.9).
        augment_policy      = "",       # DiffAugment policy, e.g. "color,translation,cutout"; "" = none.
    ):
        self.G = G
        self.D = D
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.augment_policy = augment_policy

    def mapping(self, z, generator, update_emas=False):
        """ws for z, with the second half of the layers from another z with style_mixing_prob."""
        ws = self.G.mapping(z, None, update_emas=update_emas)
        if self.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, (), generator=generator))
            if float(torch.rand((), generator=generator)) >= self.style_mixing_prob:
                cutoff = num_ws
            if cutoff < num_ws:
                z2 = torch.randn(z.shape, generator=generator).to(z.device)
                ws = ws.clone()
                ws[:, cutoff:] = self.G.mapping(z2, None, update_emas=False)[:, cutoff:]
        return ws

    def run_D(self, img, generator):
        if self.augment_policy:
            img = diff_augment(img, self.augment_policy, generator=generator)
        return self.D(img)

    def generator_loss(self, z, generator):
        """softplus(-D(G(z))): G wants D to call its images real."""
        img = self.G.synthesis(self.mapping(z, generator, update_emas=True))
        logits = self.run_D(img, generator)
        return F.softplus(-logits).mean(), logits

    def discriminator_loss(self, z, real, generator, r1_weight=0.0):
        """softplus(D(fake)) + softplus(-D(real)) [+ r1_weight * gamma/2 * |grad_x D(real)|^2]."""
        with torch.no_grad():
            fake = self.G.synthesis(self.mapping(z, generator))
        fake_logits = self.run_D(fake, generator)
        real = real.detach().requires_grad_(r1_weight > 0)
        real_logits = self.run_D(real, generator)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        r1 = torch.zeros(())
        if r1_weight > 0:
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3])
            loss = loss + (r1 * (self.r1_gamma / 2)).mean() * r1_weight
        return loss, {"D_real": real_logits.detach().mean(), "D_fake": fake_logits.detach().mean(),
                      "R1": r1.detach().mean()}
