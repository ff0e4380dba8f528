"""Input shapes the trtexec / Polygraphy way: `--shapes NAME:1x3x48x192[,NAME2:...]`.

Third-party ONNX files often leave batch, height and width symbolic (Paddle2ONNX writes
`p2o.DynamicDimension.0`). A command that must run the model (verify, calibrate, time) needs
numbers: `--shapes` gives them and `fix_input_shapes` writes them into the graph, or the caller
keeps the dims symbolic (`--dynamic`) and uses the numbers only for its own inputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from se_deploy.core.errors import SeDeployError

_ENTRY = re.compile(r"^(?P<name>[^:,]+):(?P<dims>\d+(?:x\d+)*)$")
_NUMPY = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.DOUBLE: np.float64,
}


@dataclass(frozen=True)
class InputShapes:
    """Concrete dims per input name, as given on the command line."""

    dims: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> InputShapes:
        """`x:1x3x48x192,y:1x4` -> InputShapes; a malformed entry is a one-line error."""
        if not text:
            return cls()
        entries = []
        for entry in text.split(","):
            # the name may itself hold ':' (Paddle's 'save_infer_model/scale_0.tmp_1'): split last
            name, _, dims = entry.strip().rpartition(":")
            match = _ENTRY.match(f"{name}:{dims}")
            if match is None or not name:
                raise SeDeployError(
                    f"--shapes entry '{entry}' is not NAME:DxDxD (e.g. x:1x3x48x192)"
                )
            values = tuple(int(d) for d in dims.split("x"))
            if 0 in values:
                raise SeDeployError(f"--shapes entry '{entry}' has a zero dim; use sizes >= 1")
            entries.append((name, values))
        names = [name for name, _ in entries]
        if len(set(names)) != len(names):
            raise SeDeployError(f"--shapes names an input twice ({text}); give each once")
        return cls(tuple(entries))

    def get(self, name: str) -> tuple[int, ...] | None:
        return dict(self.dims).get(name)

    def to_text(self) -> str | None:
        """Back to the command-line form, for manifests (None when no shape was given)."""
        if not self.dims:
            return None
        return ",".join(f"{name}:{'x'.join(map(str, dims))}" for name, dims in self.dims)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The inputs a caller feeds (initializers listed as inputs by old exporters excluded)."""
    initializers = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializers]


def declared_dims(value: onnx.ValueInfoProto) -> list[int | str]:
    """An input's dims as declared: numbers, or the symbol ('?' when unnamed; old Paddle2ONNX
    files write dim_value -1 for a dynamic dim)."""
    return [
        dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else (dim.dim_param or "?")
        for dim in value.type.tensor_type.shape.dim
    ]


def concrete_shapes(model: onnx.ModelProto, shapes: InputShapes) -> dict[str, tuple[int, ...]]:
    """Every input's concrete shape: the declared numbers, with `shapes` filling (and checked
    against) them. An input left symbolic is an error naming it and the fix."""
    require_known_inputs(model, shapes)
    result = {}
    for value in graph_inputs(model):
        declared, given = declared_dims(value), shapes.get(value.name)
        if given is None:
            if not all(isinstance(dim, int) for dim in declared):
                example = "x".join(str(d) if isinstance(d, int) else "N" for d in declared)
                raise SeDeployError(
                    f"input '{value.name}' has dynamic dims {declared}; pass --shapes "
                    f"{value.name}:{example} with numbers for the symbolic dims"
                )
            result[value.name] = tuple(int(d) for d in declared)
            continue
        result[value.name] = fitted(value.name, declared, given)
    return result


def require_known_inputs(model: onnx.ModelProto, shapes: InputShapes) -> None:
    """`shapes` may name only inputs the model has (a typo would silently change nothing)."""
    known = {value.name for value in graph_inputs(model)}
    require_names(shapes, known)


def require_names(shapes: InputShapes, known: set[str]) -> None:
    unknown = [name for name, _ in shapes.dims if name not in known]
    if unknown:
        raise SeDeployError(
            f"--shapes names {', '.join(repr(n) for n in unknown)}, not an input of the model; "
            f"its inputs: {', '.join(sorted(known))}"
        )


def fitted(
    name: str, declared: Sequence[int | str | None], given: tuple[int, ...]
) -> tuple[int, ...]:
    """`given` for an input declared as `declared` (numbers, or symbols / None for dynamic
    dims): it must have the same rank and agree with every static dim."""
    if len(given) != len(declared) or any(
        isinstance(d, int) and d != g for d, g in zip(declared, given, strict=False)
    ):
        shown = ["?" if d is None else d for d in declared]
        raise SeDeployError(
            f"--shapes {name}:{'x'.join(map(str, given))} does not fit the input's "
            f"declared dims {shown}; change only its symbolic dims"
        )
    return given


def filled_dims(
    name: str, declared: Sequence[int | str | None], given: tuple[int, ...]
) -> tuple[int | None, ...]:
    """A loaded input's dims with `given` filling its symbolic ones, except a dynamic batch:
    that stays the command's own (--batch-size, --calib-batch-size), so one --shapes serves
    every batch the command runs."""
    dims: tuple[int | None, ...] = fitted(name, declared, given)
    if declared and not isinstance(declared[0], int):
        dims = (None, *dims[1:])
    return dims


def fix_input_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> None:
    """Write concrete input dims into `model` in place; stale inner and output shapes are
    dropped so shape inference recomputes them from the new inputs."""
    for value in graph_inputs(model):
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, shapes[value.name], strict=True):
            dim.Clear()
            dim.dim_value = size
    del model.graph.value_info[:]
    for value in model.graph.output:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                dim.Clear()


def random_feeds(
    model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]], seed: int
) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs (the scale of normalized images) at `shapes`."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in graph_inputs(model):
        dtype = _NUMPY.get(value.type.tensor_type.elem_type)
        if dtype is None:
            raise SeDeployError(
                f"input '{value.name}' is not a float tensor "
                f"({onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)}); "
                "se-deploy feeds float image inputs"
            )
        feeds[value.name] = rng.standard_normal(shapes[value.name]).astype(dtype)
    return feeds
