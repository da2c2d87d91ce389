"""Write generators in the TensorFlow-era StyleGAN2 pickle format, for tests: the tuple (G, D, Gs)
of `dnnlib.tflib.network.Network` objects, each built with no arguments (NEWOBJ) and given its
state dict, with the arrays pickled under numpy 1's names as the TensorFlow repositories wrote
them (or numpy 2's, as a file re-saved today would have them). See tests/fixtures/tf-*/ and
../shared/fixtures/README.md for the format.

The variables are written from one of our generators by the inverse of the conversion (dense
weights transposed, conv weights [out, in, k, k] -> [k, k, in, out], upsampling kernels flipped,
1 taken off the affine bias), so a load must give that generator back."""
import copyreg
import pickle
import sys
import types

import numpy as np

NUMPY1 = {"numpy._core.multiarray": "numpy.core.multiarray"}


def _network_class():
    if "dnnlib.tflib.network" not in sys.modules:
        mod = types.ModuleType("dnnlib.tflib.network")

        class Network:
            def __init__(self, state):
                self._state = state

            def __reduce_ex__(self, protocol):
                return copyreg.__newobj__, (type(self),), self._state

        Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
        mod.Network = Network
        for name in ("dnnlib", "dnnlib.tflib"):  # the pickler imports the module's parents
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["dnnlib.tflib.network"] = mod
    return sys.modules["dnnlib.tflib.network"].Network


class _Pickler(pickle._Pickler):
    """The pure-Python pickler, writing numpy's globals under the module names of `renames`."""

    def __init__(self, f, protocol, renames):
        super().__init__(f, protocol)
        self.renames = renames

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None)
        if module not in self.renames:
            return super().save_global(obj, name)
        module, name = self.renames[module], name or obj.__qualname__
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)


def _array(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def tf_variables(G) -> tuple[list, list, list]:
    """(Gs variables, mapping variables, synthesis variables) as (name, array) lists, from our
    StyleGAN2 generator's state dict (official names)."""
    sd = G.state_dict()
    mapping = []
    if "mapping.embed.weight" in sd:
        mapping += [("LabelEmbed/weight", _array(sd["mapping.embed.weight"]).T.copy()),
                    ("LabelEmbed/bias", _array(sd["mapping.embed.bias"]))]
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        mapping += [(f"Dense{i}/weight", _array(sd[f"mapping.fc{i}.weight"]).T.copy()),
                    (f"Dense{i}/bias", _array(sd[f"mapping.fc{i}.bias"]))]
        i += 1
    synthesis, noises = [], {}

    def layer(ours, scope, up=False, noise=None):
        w = _array(sd[f"{ours}.weight"]).transpose(2, 3, 1, 0)              # [out, in, k, k] -> [k, k, in, out]
        out = [(f"{scope}/weight", np.ascontiguousarray(w[::-1, ::-1] if up else w)),
               (f"{scope}/mod_weight", _array(sd[f"{ours}.affine.weight"]).T.copy()),
               (f"{scope}/mod_bias", _array(sd[f"{ours}.affine.bias"]) - 1)]
        if noise is not None:
            out.append((f"{scope}/noise_strength", np.float32(sd[f"{ours}.noise_strength"].item())))
            noises[noise] = _array(sd[f"{ours}.noise_const"])[None, None]
        out.append((f"{scope}/bias", _array(sd[f"{ours}.bias"])))
        return out

    synthesis.append(("4x4/Const/const", _array(sd["synthesis.b4.const"])[None]))
    synthesis += layer("synthesis.b4.conv1", "4x4/Conv", noise=0)
    if "synthesis.b4.torgb.weight" in sd:
        synthesis += layer("synthesis.b4.torgb", "4x4/ToRGB")
    r = 8
    while f"synthesis.b{r}.conv0.weight" in sd:
        k = r.bit_length() - 1
        synthesis += layer(f"synthesis.b{r}.conv0", f"{r}x{r}/Conv0_up", up=True, noise=2 * k - 5)
        synthesis += layer(f"synthesis.b{r}.conv1", f"{r}x{r}/Conv1", noise=2 * k - 4)
        if f"synthesis.b{r}.skip.weight" in sd:
            w = _array(sd[f"synthesis.b{r}.skip.weight"]).transpose(2, 3, 1, 0)
            synthesis.append((f"{r}x{r}/Skip/weight", np.ascontiguousarray(w[::-1, ::-1])))
        if f"synthesis.b{r}.torgb.weight" in sd:
            synthesis += layer(f"synthesis.b{r}.torgb", f"{r}x{r}/ToRGB")
        r *= 2
    synthesis = [(f"noise{i}", noises[i]) for i in sorted(noises)] + synthesis
    return [("dlatent_avg", _array(sd["mapping.w_avg"]))], mapping, synthesis


def tf_pickle_bytes(G, static_kwargs: dict, version: int = 4, numpy1_names: bool = True,
                    build_module_src: str = "# TensorFlow source omitted\n", extra_gs_variables=()) -> bytes:
    """(G, D, Gs) in the format of NVlabs/stylegan2 (version 4, pickle protocol 4) or of the
    TensorFlow stylegan2-ada (version 5, protocol 3). G is written with the same weights times
    zero (a training-time G differs from Gs; a converter must take Gs), D with none."""
    Network = _network_class()
    gs_vars, mapping_vars, synthesis_vars = tf_variables(G)
    if version == 4:
        gs_vars = gs_vars + [("lod", np.float32(0))]
    gs_vars = gs_vars + list(extra_gs_variables)
    ada = version >= 5

    def net(name, kwargs, func, variables, components=None):
        state = {"version": version, "name": name, "static_kwargs": dict(kwargs), "components": components or {},
                 "build_module_src": build_module_src, "build_func_name": func, "variables": list(variables)}
        if ada:
            state.update(input_shapes=[[None, 1]], output_shapes=[[None, 1]], input_names=["x"], output_names=["y"])
        return Network(state)

    def generator(name, scale):
        def scaled(vs):
            return [(n, (v * scale).astype(v.dtype)) for n, v in vs]
        mapping = net(f"{name}_mapping", static_kwargs, "G_mapping", scaled(mapping_vars))
        synthesis = net(f"{name}_synthesis", static_kwargs, "G_synthesis" if ada else "G_synthesis_stylegan2",
                        scaled(synthesis_vars))
        return net(name, static_kwargs, "G_main", scaled(gs_vars), {"synthesis": synthesis, "mapping": mapping})

    D = net("D", {"num_channels": G.img_channels, "resolution": G.img_resolution}, "D_main" if ada else "D_stylegan2", [])
    top = (generator("G", 0.0), D, generator("Gs", 1.0))
    import io
    buf = io.BytesIO()
    _Pickler(buf, 3 if ada else 4, NUMPY1 if numpy1_names else {}).dump(top)
    return buf.getvalue()
