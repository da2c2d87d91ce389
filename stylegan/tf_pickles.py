"""TensorFlow-era StyleGAN2 pickles (NVlabs/stylegan2 and the TensorFlow NVlabs/stylegan2-ada):
read as data, converted into our StyleGAN2Generator. No TensorFlow, and no code from the file.

Such a file pickles the tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects. Each one's
state is a dict: `version` (4 for NVlabs/stylegan2, 5 for stylegan2-ada), `name`, the build
arguments `static_kwargs`, sub-networks in `components` (`mapping`, `synthesis`), the TensorFlow
source of its build module in `build_module_src` (never executed here), `build_func_name`, and
`variables`, a list of (name, numpy array). The restricted unpickler of loaders.py turns each
Network into a TFNetwork record; this module checks the records and converts `Gs` (the moving
average of the generator's weights: what every tool samples from).

The conversion is the one NVIDIA's PyTorch repositories make (their `legacy.py`), in our words:
- build arguments -> constructor arguments (TF_ARGUMENTS below; unknown arguments are errors);
- dense weights [in, out] are transposed; conv weights [k, k, in, out] become [out, in, k, k],
  and the upsampling ones (`Conv0_up`, `Skip`) are flipped in both spatial axes first, because
  TensorFlow's transposed convolution and ours run the kernel in opposite directions;
- the style affine's `mod_bias` is stored without the +1 that PyTorch keeps in its bias;
- `noise{i}` (one per conv layer, in order) become the layers' `noise_const`;
- `dlatent_avg` becomes `mapping.w_avg`.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from .errors import CheckpointError
from .safety import plain_arguments

# TensorFlow build argument -> (our constructor argument, default when absent). `mapping.` names
# go to mapping_kwargs. fmap_base counts channels at stage 0 where we count them at resolution 1:
# TF's block at 2^r has fmap_base / 2^(r-1) channels, ours channel_base / 2^r, so it doubles.
TF_ARGUMENTS = {
    "latent_size":          ("z_dim",                   512),
    "label_size":           ("c_dim",                   0),
    "dlatent_size":         ("w_dim",                   512),
    "resolution":           ("img_resolution",          1024),
    "num_channels":         ("img_channels",            3),
    "fmap_base":            ("channel_base",            16384),     # x 2, below
    "fmap_max":             ("channel_max",             512),
    "num_fp16_res":         ("num_fp16_res",            0),
    "conv_clamp":           ("conv_clamp",              None),
    "architecture":         ("architecture",            "skip"),
    "resample_kernel":      ("resample_filter",         [1, 3, 3, 1]),
    "use_noise":            ("use_noise",               True),
    "nonlinearity":         ("activation",              "lrelu"),
    "mapping_layers":       ("mapping.num_layers",      8),
    "label_fmaps":          ("mapping.embed_features",  None),
    "mapping_fmaps":        ("mapping.layer_features",  None),
    "mapping_nonlinearity": ("mapping.activation",      "lrelu"),
    "mapping_lrmul":        ("mapping.lr_multiplier",   0.01),
    "w_avg_beta":           ("mapping.w_avg_beta",      0.995),
}
# Arguments that only steer sampling or training in TensorFlow: read past, as NVIDIA's converter does.
TF_IGNORED = {"truncation_psi", "truncation_cutoff", "style_mixing_prob", "structure", "conditioning", "fused_modconv"}
# The build functions whose variables this converter knows (G_synthesis_stylegan2: NVlabs/stylegan2;
# G_synthesis: stylegan2-ada). StyleGAN (1) and the "revised" configs of the paper's table are others.
SYNTHESIS_BUILDERS = {"G_synthesis_stylegan2", "G_synthesis"}
STATE_VERSIONS = {4, 5}


class TFNetwork:
    """What one pickled `dnnlib.tflib.network.Network` holds: its state dict, kept as data. The
    unpickler builds it without arguments and hands it the state; nothing else is possible."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise CheckpointError("a TensorFlow network in this pickle has no state dict: not a StyleGAN pickle")
        self.state = state

    @property
    def name(self) -> str:
        return str(getattr(self, "state", {}).get("name"))


def is_tf_pickle(top) -> bool:
    return isinstance(top, TFNetwork) or (isinstance(top, (tuple, list)) and any(isinstance(x, TFNetwork) for x in top))


def pick_gs(top) -> TFNetwork:
    """Gs from (G, D, Gs); a lone generator network is taken as it is."""
    if isinstance(top, (tuple, list)):
        if len(top) != 3 or not all(isinstance(x, TFNetwork) for x in top):
            raise CheckpointError(f"this TensorFlow pickle holds {len(top)} items; a StyleGAN2 pickle holds (G, D, Gs)")
        return top[2]
    return top


def _variables(net: TFNetwork, prefix="", depth=0, out=None) -> dict[str, np.ndarray]:
    """{scope/name: float32 array} of a network and its components, as TensorFlow names them
    (`mapping/Dense0/weight`, `synthesis/4x4/Conv/weight`, `dlatent_avg`)."""
    out = {} if out is None else out
    if depth > 4 or len(out) > 100_000:
        raise CheckpointError("the TensorFlow network's components nest far deeper than a StyleGAN's; refused")
    if not isinstance(net, TFNetwork):
        raise CheckpointError(f"a component of this TensorFlow pickle is a {type(net).__name__}, not a network")
    state = net.state
    variables = state.get("variables")
    if not isinstance(variables, (list, tuple)):
        raise CheckpointError(f"the TensorFlow network {net.name!r} has no list of variables")
    for item in variables:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise CheckpointError(f"the TensorFlow network {net.name!r} has a variable that is not a (name, value) pair")
        name, value = item
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise CheckpointError(f"the TensorFlow variable {prefix + name!r} is {kind}, not a floating-point array")
        out[prefix + name] = value.astype(np.float32, copy=False)
    components = state.get("components") or {}
    if not isinstance(components, dict):
        raise CheckpointError(f"the TensorFlow network {net.name!r} has components that are not a dict")
    for key, sub in components.items():
        _variables(sub, f"{prefix}{key}/", depth + 1, out)
    return out


def _argument(kwargs: dict, tf_name: str, kind, what: str):
    value = kwargs.get(tf_name, TF_ARGUMENTS[tf_name][1])
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise CheckpointError(f"the TensorFlow pickle declares {tf_name} = {value!r}; it must be {what}")
    return value


def convert_arguments(static_kwargs: dict) -> dict:
    """The generator's TensorFlow build arguments -> our constructor arguments (the flat form of
    the stylegan3 repository: synthesis arguments at the top level)."""
    if not isinstance(static_kwargs, dict):
        raise CheckpointError("the TensorFlow generator's static_kwargs are not a dict")
    unknown = sorted(k for k in static_kwargs if k not in TF_ARGUMENTS and k not in TF_IGNORED)
    if unknown:
        raise CheckpointError(f"the TensorFlow generator has build arguments this converter does not know "
                              f"({', '.join(map(repr, unknown[:5]))}): its network may differ from StyleGAN2's; refused")
    ints = ("latent_size", "label_size", "dlatent_size", "resolution", "num_channels", "fmap_base", "fmap_max",
            "num_fp16_res", "mapping_layers", "label_fmaps", "mapping_fmaps")
    for name in ints:
        _argument(static_kwargs, name, int, "an integer")
    for name in ("conv_clamp", "mapping_lrmul", "w_avg_beta"):
        _argument(static_kwargs, name, (int, float), "a number")
    for name in ("architecture", "nonlinearity", "mapping_nonlinearity"):
        _argument(static_kwargs, name, str, "a name")
    _argument(static_kwargs, "use_noise", bool, "true or false")
    kernel = _argument(static_kwargs, "resample_kernel", (list, tuple), "a list of filter taps")
    if kernel is not None and not (1 <= len(kernel) <= 16 and all(isinstance(v, (int, float)) for v in kernel)):
        raise CheckpointError(f"the TensorFlow pickle declares resample_kernel = {kernel!r}; it must be a few filter taps")
    if static_kwargs.get("architecture", "skip") not in ("orig", "skip", "resnet"):
        raise CheckpointError(f"the TensorFlow generator's architecture is {static_kwargs['architecture']!r}; "
                              "StyleGAN2 has orig, skip and resnet")

    kwargs, mapping = {}, {}
    for tf_name, (name, default) in TF_ARGUMENTS.items():
        value = static_kwargs.get(tf_name, default)
        if name.startswith("mapping."):
            mapping[name[len("mapping."):]] = value
        else:
            kwargs[name] = value
    kwargs["channel_base"] *= 2
    kwargs["resample_filter"] = list(kwargs["resample_filter"])
    if mapping["w_avg_beta"] is None:
        mapping["w_avg_beta"] = 1  # TensorFlow's "no tracking"
    kwargs["mapping_kwargs"] = mapping
    return kwargs


def _tf_layer(p, scope: str, noise: int, up: bool):
    """Our parameters of one modulated conv layer (`scope` is its TensorFlow scope) by name."""
    def conv_weight():
        w = p(f"{scope}/weight")                                        # [k, k, in, out]
        return (w[::-1, ::-1] if up else w).transpose(3, 2, 0, 1)       # [out, in, k, k]
    return {
        "weight": conv_weight,
        "bias": lambda: p(f"{scope}/bias"),
        "affine.weight": lambda: p(f"{scope}/mod_weight").T,            # [w_dim, in] -> [in, w_dim]
        "affine.bias": lambda: p(f"{scope}/mod_bias") + 1,
        "noise_strength": lambda: p(f"{scope}/noise_strength"),
        "noise_const": lambda: p(f"synthesis/noise{noise}")[0, 0],      # [1, 1, r, r] -> [r, r]
    }


def _source(key: str, p):
    """The TensorFlow value of one of our state-dict entries, or None for filter buffers (which
    the constructor makes from resample_kernel)."""
    if key.endswith("resample_filter"):
        return None
    rules = (
        (r"mapping\.w_avg", lambda: p("dlatent_avg")),
        (r"mapping\.embed\.weight", lambda: p("mapping/LabelEmbed/weight").T),
        (r"mapping\.embed\.bias", lambda: p("mapping/LabelEmbed/bias")),
        (r"mapping\.fc(\d+)\.weight", lambda i: p(f"mapping/Dense{i}/weight").T),
        (r"mapping\.fc(\d+)\.bias", lambda i: p(f"mapping/Dense{i}/bias")),
        (r"synthesis\.b4\.const", lambda: p("synthesis/4x4/Const/const")[0]),
        (r"synthesis\.b4\.conv1\.(.+)", lambda part: _tf_layer(p, "synthesis/4x4/Conv", 0, False)[part]()),
        # block 2^r: conv0 is the model's conv layer 2r-5, conv1 layer 2r-4 (layer 0 is at 4x4).
        (r"synthesis\.b(\d+)\.conv0\.(.+)", lambda r, part: _tf_layer(
            p, f"synthesis/{r}x{r}/Conv0_up", 2 * int(r).bit_length() - 7, True)[part]()),
        (r"synthesis\.b(\d+)\.conv1\.(.+)", lambda r, part: _tf_layer(
            p, f"synthesis/{r}x{r}/Conv1", 2 * int(r).bit_length() - 6, False)[part]()),
        (r"synthesis\.b(\d+)\.torgb\.(.+)", lambda r, part: _tf_layer(p, f"synthesis/{r}x{r}/ToRGB", -1, False)[part]()),
        (r"synthesis\.b(\d+)\.skip\.weight", lambda r: p(f"synthesis/{r}x{r}/Skip/weight")[::-1, ::-1].transpose(3, 2, 0, 1)),
    )
    for pattern, get in rules:
        m = re.fullmatch(pattern, key)
        if m:
            try:
                return get(*m.groups())
            except KeyError as e:
                raise CheckpointError(f"the TensorFlow generator lacks the variable {e.args[0]!r} (needed for {key})") from None
    raise CheckpointError(f"no TensorFlow variable converts to {key}")


def convert_weights(variables: dict[str, np.ndarray], expected: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Our state dict (every entry of `expected` but the filter buffers) from Gs's variables."""
    def p(name):
        return variables[name]
    sd = {}
    for key in expected:
        value = _source(key, p)
        if value is not None:
            sd[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).reshape(np.shape(value))
    return sd


def read_gs(top) -> tuple[dict, dict[str, np.ndarray]]:
    """(constructor arguments, TensorFlow variables) of the pickle's Gs, checked."""
    gs = pick_gs(top)
    state = gs.state
    version = state.get("version")
    if version not in STATE_VERSIONS:
        raise CheckpointError(f"this TensorFlow pickle's network state is version {version!r}; StyleGAN2's are 4 "
                              "(NVlabs/stylegan2) and 5 (stylegan2-ada). StyleGAN (1) pickles are not supported")
    components = state.get("components") or {}
    if not isinstance(components, dict) or not isinstance(components.get("synthesis"), TFNetwork) \
            or not isinstance(components.get("mapping"), TFNetwork):
        raise CheckpointError(f"the TensorFlow network {gs.name!r} has no mapping and synthesis components: not a generator")
    builder = components["synthesis"].state.get("build_func_name")
    if builder not in SYNTHESIS_BUILDERS:
        raise CheckpointError(f"the TensorFlow generator's synthesis network is built by {builder!r}; this converter "
                              f"knows StyleGAN2's ({', '.join(sorted(SYNTHESIS_BUILDERS))})")
    variables = _variables(gs)
    if "mapping/LabelConcat/weight" in variables:
        raise CheckpointError("this TensorFlow generator concatenates its labels in NVlabs/stylegan2's original way "
                              "(LabelConcat), which has no PyTorch StyleGAN2 counterpart; only stylegan2-ada's "
                              "label embedding (LabelEmbed) converts")
    return convert_arguments(plain_arguments(state.get("static_kwargs") or {})), variables
