#!/usr/bin/env python3
"""Writes the synthetic seeds of fuzz/corpus/ (the real MIDI seeds are copied from
/work/shared/data, see FUZZING.md): small MIDI files that reach the reader's less common paths,
tiny model files of every layout the loader accepts or must refuse, and plugin states.
Deterministic: running it again writes the same bytes."""

import json
import random
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
VOCAB_SIZE = 307  # tokens::VOCAB_SIZE
FEATURE_COUNT = 112  # tokens::FEATURE_COUNT


def vlq(value):
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def track(events):
    body = b"".join(vlq(delta) + bytes(data) for delta, data in events) + b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def smf(format_, division, tracks):
    return b"MThd" + struct.pack(">IHHH", 6, format_, len(tracks), division) + b"".join(tracks)


def midi_seeds():
    tempo = [0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20]  # 500,000 us per beat
    meter = [0xFF, 0x58, 0x04, 3, 3, 24, 8]  # 3/8
    notes = [(0, [0x90, 60, 100]), (96, [0x80, 60, 0]), (0, [0x90, 64, 90]), (96, [64, 0])]  # running status
    pedal = [(0, [0xB0, 64, 127]), (0, [0x90, 62, 80]), (48, [0x80, 62, 0]), (48, [0xB0, 64, 0])]
    drums = [(0, [0x99, 36, 100]), (24, [0x89, 36, 0]), (0, [0x90, 67, 70]), (24, [0x90, 67, 0])]
    tempo_change = [(200, [0xFF, 0x51, 0x03, 0x0F, 0x42, 0x40]), (10, [0x90, 72, 64]), (10, [0x80, 72, 0])]
    return {
        "format0_tempo_meter_running_status.mid": smf(0, 96, [track([(0, tempo), (0, meter)] + notes)]),
        "format1_pedal_drums_tempo_change.mid": smf(1, 48, [track([(0, tempo)] + tempo_change), track(pedal), track(drums)]),
        "format2_two_tracks.mid": smf(2, 24, [track(notes), track(pedal)]),
        "smpte_25fps_40_subframes.mid": smf(0, 0xE728, [track(notes)]),  # -25 fps, 40 ticks per frame
        "no_notes.mid": smf(0, 96, [track([(0, tempo)])]),
    }


def safetensors(tensors, metadata):
    header, offset, data = {"__metadata__": metadata}, 0, b""
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def model(architecture, precision, rng):
    """A model file as model::ModelFile::to_bytes writes it, with random weights."""
    f32 = lambda shape: ("F32", shape, struct.pack(f"<{shape_size(shape)}f", *(rng.uniform(-1, 1) for _ in range(shape_size(shape)))))
    i8 = lambda shape: ("I8", shape, bytes(rng.randrange(256) for _ in range(shape_size(shape))))
    tensors, dense = {}, []
    if architecture["kind"] == "wave_net":
        c, s = architecture["residual_channels"], architecture["skip_channels"]
        tensors["embedding.weight"] = f32([VOCAB_SIZE, c])
        if architecture["conditioned"]:
            tensors["conditioning.weight"] = f32([c, FEATURE_COUNT])
        for layer in range(architecture["stacks"] * architecture["layers_per_stack"]):
            dense += [(f"layers.{layer}.dilated", 2 * c, 2 * c), (f"layers.{layer}.residual", c, c), (f"layers.{layer}.skip", s, c)]
        dense += [("head.hidden", s, s), ("head.output", VOCAB_SIZE, s)]
    else:
        e, h = architecture["embedding"], architecture["hidden"]
        tensors["embedding.weight"] = f32([VOCAB_SIZE, e])
        for layer in range(architecture["layers"]):
            dense += [(f"lstm.{layer}.input", 4 * h, e if layer == 0 else h), (f"lstm.{layer}.hidden", 4 * h, h)]
        dense += [("head.output", VOCAB_SIZE, h)]
    for prefix, outputs, inputs in dense:
        tensors[f"{prefix}.weight"] = (i8 if precision == "int8" else f32)([outputs, inputs])
        tensors[f"{prefix}.bias"] = f32([outputs])
        if precision == "int8":
            tensors[f"{prefix}.weight_scale"] = ("F32", [outputs], struct.pack(f"<{outputs}f", *([0.01] * outputs)))
    return safetensors(tensors, {"format": "continuo-model", "continuo": model_meta(architecture, precision).decode()})


def model_meta(architecture, precision):
    """The model metadata JSON (model::ModelMeta), as the `continuo` metadata string holds it."""
    meta = {"format_version": 1, "vocab_version": 1, "vocab_size": VOCAB_SIZE, "architecture": architecture,
            "precision": precision, "training": {"seed": "make_seeds.py"}, "valid_nll_per_token": None}
    return json.dumps(meta, separators=(",", ":")).encode()


def shape_size(shape):
    size = 1
    for dimension in shape:
        size *= dimension
    return size


def model_seeds():
    rng = random.Random(1)
    return {
        "wavenet_f32_conditioned.safetensors": model(wavenet(2, 3, 1, 2, True), "f32", rng),
        "wavenet_int8_unconditioned.safetensors": model(wavenet(2, 3, 1, 2, False), "int8", rng),
        "lstm_f32_refused_by_engine.safetensors": model({"kind": "lstm", "embedding": 2, "hidden": 2, "layers": 1}, "f32", rng),
    }


def wavenet(residual, skip, stacks, layers, conditioned):
    return {"kind": "wave_net", "residual_channels": residual, "skip_channels": skip, "stacks": stacks,
            "layers_per_stack": layers, "conditioned": conditioned}


def metadata_seeds():
    """Metadata for the model_meta target, which builds the tensors to match it: the model seeds'
    metadata, odd widths and more layers (small enough to be built), and every field at its limit."""
    return {
        "wavenet_f32_conditioned.json": model_meta(wavenet(2, 3, 1, 2, True), "f32"),
        "wavenet_int8_unconditioned.json": model_meta(wavenet(2, 3, 1, 2, False), "int8"),
        "wavenet_int8_odd_widths_two_stacks.json": model_meta(wavenet(5, 7, 2, 5, True), "int8"),
        "wavenet_every_field_at_its_limit.json": model_meta(wavenet(1024, 2048, 16, 16, True), "f32"),
        "lstm_f32.json": model_meta({"kind": "lstm", "embedding": 2, "hidden": 2, "layers": 1}, "f32"),
    }


def state(params, model_path):
    return json.dumps({"version": "0.1.0", "params": params, "fields": {"model": json.dumps(model_path)}},
                      indent=2, sort_keys=True).encode()


def state_seeds():
    defaults = {"temp": {"f32": 1.0}, "topp": {"f32": 0.95}, "bars": {"i32": 2}, "gap": {"f32": 1.0},
                "thru": {"bool": False}, "vol": {"f32": 70.0}, "seed": {"i32": 0}, "scale": {"i32": 0},
                "root": {"i32": 0}, "low": {"i32": 36}, "high": {"i32": 96}, "tempo": {"f32": 120.0},
                "cont": {"bool": False}, "over": {"bool": False}, "bypass": {"bool": False}}
    chosen = dict(defaults, scale={"i32": 2}, root={"i32": 9}, low={"i32": 48}, high={"i32": 84}, seed={"i32": 4242})
    return {
        "defaults.json": state(defaults, ""),
        "minor_scale_and_model_path.json": state(chosen, "/home/user/models/continuo.safetensors"),
        "only_the_model_path.json": json.dumps({"params": {}, "fields": {"model": json.dumps("  relative.safetensors ")}}).encode(),
    }


def main():
    for target, seeds in [("midi_file", midi_seeds()), ("model_file", model_seeds()), ("model_meta", metadata_seeds()),
                          ("plugin_state", state_seeds())]:
        (CORPUS / target).mkdir(exist_ok=True)
        for name, data in seeds.items():
            (CORPUS / target / name).write_bytes(data)


if __name__ == "__main__":
    main()
