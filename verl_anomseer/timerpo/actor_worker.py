"""verl glue: the actor worker that scores the policy grounding inside the old-log-prob pass (no second pass).

`GroundingActorRolloutRefWorker` is verl's `ActorRolloutRefWorker` with one method redefined, `compute_log_prob`
(same dispatch). When the trainer's request (`REQUEST_KEY` in the batch's extra_info, the
`algorithm.timerpo.grounding` settings) is present, the log-prob forward runs as usual through verl's engine,
micro-batching, remove-padding and offload included, while

- a forward hook on the text decoder's final norm keeps that micro-batch's last-layer states (after the norm:
  Hugging Face's ``hidden_states[-1]``);
- a per-micro-batch callback, passed as the engine's loss function (verl calls it right after each forward),
  slices each row's valid response positions from those states (undoing the packed or padded layout);
- on its first call it runs the same model, in the same precision context, on each distinct ExpCoT trace of the
  rank (text only, <= `max_reference_tokens` tokens), with dummy forwards so that every data-parallel rank makes
  the same number of FSDP forwards;
- the OT score is computed there, batched in torch on the worker's device
  (`verl_anomseer.grounding.policy`), and only (batch,) columns leave the worker: `OUTPUT_FIELDS`, written to
  TransferQueue with the log-probs.

Unsupported layouts (Ulysses sequence parallelism, Megatron) are refused in the driver
(`timerpo.trainer.check_config`); a model without a text decoder norm fails here with a clear message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from tensordict import TensorDict
from verl.single_controller.base.decorator import make_nd_compute_dataproto_dispatch_fn, register
from verl.utils import tensordict_utils as tu
from verl.utils.transformers_compat import unpack_visual_output
from verl.workers.engine_workers import ActorRolloutRefWorker

from verl_anomseer.grounding.policy import ReferenceStates, reference_text, score_responses

REQUEST_KEY = "anomseer_policy_grounding"
ROW_KEY = "anomseer_row"
SCORE_FIELD = "anomseer_grounding"
ENTROPY_RESPONSE_FIELD = "anomseer_mass_entropy_response"
ENTROPY_REFERENCE_FIELD = "anomseer_mass_entropy_reference"
SECONDS_FIELD = "anomseer_grounding_seconds"
OUTPUT_FIELDS = (SCORE_FIELD, ENTROPY_RESPONSE_FIELD, ENTROPY_REFERENCE_FIELD, SECONDS_FIELD)


class PolicyGroundingError(RuntimeError):
    """The actor model or batch cannot serve the policy grounding."""


def final_norm(module: torch.nn.Module) -> torch.nn.Module:
    """The text decoder's final norm of a (possibly FSDP-wrapped) causal or vision-language model."""
    root = getattr(module, "_fsdp_wrapped_module", module)
    get_decoder = getattr(root, "get_decoder", None)
    decoder = get_decoder() if callable(get_decoder) else None
    for candidate in (decoder, getattr(decoder, "language_model", None), getattr(root, "model", None)):
        norm = getattr(candidate, "norm", None)
        if isinstance(norm, torch.nn.Module):
            return norm
    raise PolicyGroundingError(
        f"policy grounding needs a text decoder with a final norm, found none in {type(root).__name__}: use "
        "algorithm.timerpo.grounding.source=reward for this model"
    )


class LastOutput:
    """Forward hook keeping a module's latest output (detached)."""

    def __init__(self, module: torch.nn.Module):
        self.value: torch.Tensor | None = None
        self._handle = module.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        self.value = (output[0] if isinstance(output, tuple) else output).detach()

    def take(self) -> torch.Tensor:
        if self.value is None:
            raise PolicyGroundingError("the actor's forward never reached the text decoder's final norm")
        value, self.value = self.value, None
        return value

    def close(self) -> None:
        self._handle.remove()


def _vision_tower(module: torch.nn.Module) -> torch.nn.Module | None:
    root = getattr(module, "_fsdp_wrapped_module", module)
    for owner in (root, getattr(root, "model", None)):
        visual = getattr(owner, "visual", None)
        if isinstance(visual, torch.nn.Module):
            return visual
    return None


@contextmanager
def text_only_forwards(module: torch.nn.Module) -> Iterator[None]:
    """Make a text-only forward of a vision-language model pass verl's patched Qwen2-VL forward.

    For a batch without images, verl runs the vision tower on a dummy image (so that every FSDP rank gathers
    its parameters) and adds ``0 * embeds.mean()``; under transformers 5 the tower returns an output object
    with no ``mean``. While the block runs, the tower's output is unwrapped to its embeddings (verl's own
    `unpack_visual_output`); the text states are unchanged (the dummy term is multiplied by 0).
    """
    visual = _vision_tower(module)
    if visual is None:
        yield
        return

    def unwrap(mod, inputs, output):
        return output if isinstance(output, torch.Tensor) else unpack_visual_output(output)[0]

    handle = visual.register_forward_hook(unwrap)
    try:
        yield
    finally:
        handle.remove()


def text_position_ids(module: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Positions of a text-only (1, T) sequence: 0..T-1, stacked 4 times for a vision-language model (verl's
    M-RoPE layout: text positions, then the temporal, height and width ones, all equal without an image)."""
    positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
    config = getattr(getattr(module, "_fsdp_wrapped_module", module), "config", None)
    if getattr(config, "vision_config", None) is not None:
        return positions.unsqueeze(0).expand(4, 1, -1)
    return positions


def response_states(hidden: torch.Tensor, micro_batch: TensorDict) -> list[torch.Tensor]:
    """Per row of ``micro_batch``: the last-layer states at its valid response positions, (R_i, D).

    ``hidden`` is the final norm's output for the micro-batch: (1, total + pad, D) when verl packed the rows
    (remove-padding) or (rows, longest, D) when it right-padded them. Each row's sequence is prompt + response;
    its ``response_mask`` (nested, one entry per response token) selects the valid response tokens.
    """
    input_ids = micro_batch["input_ids"]
    seq_lens = input_ids.offsets().diff().tolist()
    mask = micro_batch["response_mask"]
    resp_lens = mask.offsets().diff().tolist()
    if tu.get_non_tensor_data(data=micro_batch, key="use_remove_padding", default=True):
        flat = hidden.reshape(-1, hidden.shape[-1])[: sum(seq_lens)]
        sequences = torch.split(flat, seq_lens)
    else:
        sequences = [hidden[i, :length] for i, length in enumerate(seq_lens)]
    out = []
    for seq, length, resp_len, row_mask in zip(sequences, seq_lens, resp_lens, mask.unbind(), strict=True):
        out.append(seq[length - resp_len : length][row_mask.to(seq.device).bool()])
    return out


class GroundingCollector:
    """The engine's per-micro-batch callback (its loss-function slot): scores the rows of each micro-batch."""

    def __init__(self, module: torch.nn.Module, tokenizer, traces: list[str | None], request: dict[str, Any]):
        self.module = module
        self.traces = traces
        self.request = request
        self.capture = LastOutput(final_norm(module))
        self.references = ReferenceStates(tokenizer, self._forward_reference, int(request["max_reference_tokens"]))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0
        n = len(traces)
        nan = torch.full((n,), float("nan"), dtype=torch.float64)
        self.results = {SCORE_FIELD: nan.clone(), ENTROPY_RESPONSE_FIELD: nan.clone(), ENTROPY_REFERENCE_FIELD: nan}
        self._references_ready = False
        self.seconds = 0.0

    def _forward_reference(self, ids: torch.Tensor) -> torch.Tensor:
        with text_only_forwards(self.module):
            self.module(input_ids=ids, position_ids=text_position_ids(self.module, ids), use_cache=False)
        hidden = self.capture.take()
        return hidden.reshape(-1, hidden.shape[-1])[: ids.shape[1]]

    def _compute_references(self, device: torch.device, dp_group) -> None:
        todo = self.references.token_ids(self.traces)
        forwards = sum(1 for ids in todo.values() if ids)  # a trace without tokens needs no forward
        count = torch.tensor([forwards], device=device)
        if dp_group is not None and torch.distributed.is_initialized():
            torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX, group=dp_group)
        self.references.compute(todo, device)
        for _ in range(int(count.item()) - forwards):  # every rank makes the same number of FSDP forwards
            self._forward_reference(torch.tensor([[self.pad_id]], device=device))
        self._references_ready = True

    def __call__(self, model_output: Any, data: TensorDict, dp_group=None, **kwargs) -> tuple[torch.Tensor, dict]:
        hidden = self.capture.take()
        started = time.perf_counter()
        if not self._references_ready:
            self._compute_references(hidden.device, dp_group)
        states = response_states(hidden, data)
        rows = data[ROW_KEY].tolist()
        result = score_responses(
            states,
            [self.traces[r] for r in rows],
            self.references,
            similarity=self.request["similarity"],
            eps=float(self.request["eps"]),
            n_iter=int(self.request["n_iter"]),
            tau=float(self.request["tau"]),
        )
        index = torch.tensor(rows)
        empty = torch.tensor([s.shape[0] == 0 for s in states])
        self.results[SCORE_FIELD][index] = result.score
        self.results[ENTROPY_RESPONSE_FIELD][index] = torch.where(empty, float("nan"), result.entropy_response)
        self.results[ENTROPY_REFERENCE_FIELD][index] = result.entropy_reference
        self.seconds += time.perf_counter() - started
        return torch.zeros((), device=hidden.device), {}

    def close(self) -> None:
        self.capture.close()


class GroundingActorRolloutRefWorker(ActorRolloutRefWorker):
    """verl's hybrid actor/rollout/ref worker; `compute_log_prob` also scores the policy grounding on request."""

    @register(dispatch_mode=make_nd_compute_dataproto_dispatch_fn(mesh_name="actor"))
    def compute_log_prob(self, data: TensorDict) -> TensorDict:
        request = tu.pop(data, key=REQUEST_KEY, default=None)
        if request is None:
            return super().compute_log_prob(data)
        n = data.batch_size[0]
        infos = tu.get(data, "extra_info", default=None) or [None] * n
        traces = [reference_text(info) for info in infos]
        data[ROW_KEY] = torch.arange(n)
        tu.assign_non_tensor(data, compute_loss=True)
        collector = GroundingCollector(self.actor.engine.module, self.actor.model_config.tokenizer, traces, request)
        previous = self.actor.loss_fn
        self.actor.loss_fn = collector
        try:
            output = super().compute_log_prob(data)
        finally:
            self.actor.loss_fn = previous
            collector.close()
        if output is None:
            return None
        for field, values in collector.results.items():
            output[field] = values
        output[SECONDS_FIELD] = torch.full((n,), collector.seconds, dtype=torch.float64)
        return output
