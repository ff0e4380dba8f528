"""The fixed choice sets of CLI options, as str-valued Enums: typer lists them in `--help` and
rejects other values with a one-line usage error, and the stage configs validate against the
same Enums, so each choice list is written once. They live in core (no torch, no ORT) so every
CLI module can name them at import time without loading the stages."""

from __future__ import annotations

import enum


class CalibMethod(enum.StrEnum):
    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class QuantScheme(enum.StrEnum):
    """Activation/weight integer types, as ORT names them (activations first).

    S8S8 is ORT's recommended QDQ default. On x86 CPUs with AVX2/AVX512 but no VNNI, ORT runs
    s8s8 and u8s8 through u8s8 kernels (VPMADDUBSW), whose 16-bit intermediate sums can saturate;
    ORT's documented remedies are `reduce_range` (7-bit weights) or U8U8, which cannot saturate.
    """

    S8S8 = "s8s8"
    U8S8 = "u8s8"
    U8U8 = "u8u8"


class QuantTarget(enum.StrEnum):
    """The runtime an INT8 artifact is made for; it sets the --scheme default.

    ort-cpu: u8s8 with 7-bit weights (the saturation guard x86 without VNNI needs). ORT's CPU
    QDQ fusions run uint8-activation SE paths as integer ops end to end (QLinearGlobalAveragePool,
    QLinearConv, QLinearSigmoid, QLinearMul): se_mobilenet at 224 ran SE/base 2.1x with s8s8,
    whose int8 pool and Mul ORT runs in float between DQ/Q, and 1.33x with u8s8.
    tensorrt: s8s8, the only integer types TensorRT's explicit quantization takes.
    """

    ORT_CPU = "ort-cpu"
    TENSORRT = "tensorrt"


class SePrecision(enum.StrEnum):
    """Whether the SE gating path (pool, FCs, gate, multiply) is quantized or kept in float."""

    INT8 = "int8"
    FLOAT = "float"


class CheckPolicy(enum.StrEnum):
    """What a failed quantize check does: enforce refuses the artifact, warn writes it and
    records the failure (latency work on random-init models, whose near-tied logits fail it)."""

    ENFORCE = "enforce"
    WARN = "warn"


class GateValue(enum.StrEnum):
    """The constant a folded gate becomes, per channel (see gate_stats)."""

    MEAN = "mean"  # the gate's mean over the calibration images
    LSQ = "lsq"  # least squares: the mean weighted by the channel's energy in each image


class SeGateForm(enum.StrEnum):
    """How an exported SE gate reaches its Mul: broadcast (1x1) or resize (repeated to HxW)."""

    BROADCAST = "broadcast"
    RESIZE = "resize"


class ChannelOrder(enum.StrEnum):
    RGB = "rgb"
    BGR = "bgr"


class Split(enum.StrEnum):
    TRAIN = "train"
    TEST = "test"
