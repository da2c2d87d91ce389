"""The studio layer: between the page (app.py) and editing/. Plain Python, usable without Gradio.

    from studio import Studio
    studio = Studio()
    ws = studio.workspace("avataaars-64")               # a registry name, a Hub id, an upload...
    image, note = ws.generate_one(seed=3, psi=0.7)
    for gallery in ws.generate("0-7"): ...             # batch by batch
    edit = ws.direction(seed=3, method="SeFa", index=1, strength=3)

A Studio keeps one Workspace per loaded generator (studio.networks, one bounded cache), whose
companions come from the companion room (companions/, one bounded cache); every failure a visitor can cause is a StudioError whose
message is meant for people and carries nothing of the server.
"""
from .companions import ModelCompanions
from .errors import StudioError, public_message, scrub
from .files import ResultFiles
from .networks import Networks, Source
from .workspace import Workspace


class Studio:
    def __init__(self, networks: Networks = None, files: ResultFiles = None):
        self.networks = networks or Networks()
        self.files = files or ResultFiles()

    def default_name(self) -> str:
        return self.networks.default_name()

    def workspace(self, choice=None, text=None, upload=None) -> Workspace:
        """The Workspace of the upload, else of the typed Hub id / allowed path / name, else of
        the picked registry model (see Networks.resolve)."""
        source = self.networks.resolve(choice, text, upload)

        def build():
            manifest = self.networks.manifest_for(source)  # a declaration that does not parse: refused first
            G = self.networks.load_generator(source)  # held by the workspace's cache entry alone
            return Workspace(G, source.label, companions=ModelCompanions(manifest, self.networks.device),
                             faces=bool(source.entry is not None and source.entry.faces))
        return self.networks.cached(("workspace",) + source.key, build)


__all__ = ["Studio", "StudioError", "Workspace", "Networks", "Source", "ResultFiles", "public_message", "scrub"]
