"""The page's tabs, one small task object each, behind the Workspace facade (studio/workspace.py).

A task owns its tab's constants, argument checks and orchestration; it reaches the model, the
shared checks (seeds, ψ, class, noise, latents), the cached analyses and the companions through
the workspace it is given. The long jobs (Project, Text edit) run in studio.runloop.RunLoop.

    generate.py    Generate (one seed, a gallery), StyleMixing, Interpolate
    directions.py  Directions (SeFa, GANSpace, attribute boundaries, declared files), StyleSpace
    project.py     Project (encoder, hybrid, nvidia, image2stylegan), Image2StyleGAN (morph, transfer, crossover)
    text_edit.py   TextEdit (latent optimisation, global directions)
    drag.py        Drag (DragGAN: handle -> target points, a painted mask)
    inspect.py     Inspect (Look inside: a layer's activations, the image's spectrum)

A new tab: a module here with a class taking the workspace, constructed in Workspace.__init__,
its entry points added to the facade, and its page wiring in app.py (widgets only).
"""


class Task:
    """A tab's logic for one workspace."""

    def __init__(self, workspace):
        self.w = workspace

    @property
    def G(self):
        return self.w.G

    def enlargement(self) -> int:
        """How much the page enlarges the model's images where it shows them small (drag points,
        a projection's video): an integer factor to about 256 px."""
        return max(1, 256 // self.G.img_resolution)
