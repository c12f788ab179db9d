"""The ONNX sentence encoder on OpenVINO (an optional runtime for the serving sweep; ``pip install openvino``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from advisor.runners.encoder import EncoderHead


class _Port:
    """An input or output as :class:`EncoderHead` reads it from an ONNX Runtime session: a name and a shape."""

    def __init__(self, port):
        self.name = port.get_any_name()
        self.shape = [None] * port.get_partial_shape().rank.get_length()


class OpenVinoSession:
    """The part of an ONNX Runtime ``InferenceSession``'s interface that :class:`EncoderHead` uses, over OpenVINO."""

    def __init__(self, model_file: Path, threads: int | None, device: str):
        import openvino as ov

        if device != "cpu":
            raise ValueError(f"the OpenVINO runtime here serves on the CPU only, not {device}")
        config = {"INFERENCE_NUM_THREADS": threads} if threads else {}
        self.model = ov.Core().compile_model(str(model_file), "CPU", config)

    def get_inputs(self) -> list[_Port]:
        return [_Port(p) for p in self.model.inputs]

    def get_outputs(self) -> list[_Port]:
        return [_Port(p) for p in self.model.outputs]

    def run(self, names: Sequence[str], feeds: dict) -> list:
        out = self.model(feeds)
        return [out[self.model.output(n)] for n in names]


class OpenVinoEncoderHead(EncoderHead):
    """:class:`EncoderHead` on its ONNX graph (or export), run by OpenVINO instead of ONNX Runtime."""

    def _new_session(self, threads: int | None) -> None:
        self.session = OpenVinoSession(self._model_file, threads, self.ctx.device)
