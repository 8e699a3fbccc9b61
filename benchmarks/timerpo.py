"""Benchmark TimerPO's two costs, each as a ratio to a baseline measured in this run.

1. The estimator on 640 rows x 1024 tokens (128 prompts x 5 rollouts, the authors' step) against verl's own
   `grpo` estimator on the same batch (target: at most 1.5x).
2. Our OT grounding score (`grounding.ot.ot_score`) on 512 x 512 tokens against a plain POT call doing the same
   maths (softmax-of-norm masses, cosine cost, `ot.sinkhorn`, <T, C>, exp) (target: at most 1.1x).
3. The per-response cost of `grounding.reward_term.grounding_score` with the default CPU encoder (MiniLM),
   and its ratio to the encoder's forward pass alone on the same response.
4. The policy source's batched OT (`grounding.batched_ot.ot_scores`, torch, what the actor worker runs) on
   `--ot-pairs` pairs of 512 x 512 tokens (640 = one step of the authors' run) of hidden size `--ot-dim`, against a
   per-pair loop of plain POT calls (target: at least 5x faster, same values). Wall time, with `--threads`.

Everything runs on one thread, as in verl's 1-CPU Ray actors (the TaskRunner computes advantages, each RewardLoop
worker scores responses); `--threads` changes that.

Usage: python benchmarks/timerpo.py [--repeats 30] [--responses 24] [--seed 0] [--threads 1]
                                   [--ot-pairs 640] [--ot-dim 2048] [--ot-device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import ot as pot
import torch
from scipy.special import softmax
from tqdm import tqdm
from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

from verl_anomseer.expcot import faithful_trace, stumpy_cache
from verl_anomseer.grounding.batched_ot import ot_scores
from verl_anomseer.grounding.ot import ot_score
from verl_anomseer.grounding.reward_term import get_scorer, grounding_score
from verl_anomseer.series.generators import generate
from verl_anomseer.series.taxonomy import class_for
from verl_anomseer.timerpo.advantage import compute_timerpo_advantage

GROUNDING = {"similarity": "ot", "encoder": "minilm", "eps": 0.08, "n_iter": 50, "tau": 0.5}


def paired_seconds(
    fn_a: Callable[[], object], fn_b: Callable[[], object], repeats: int, desc: str
) -> tuple[float, float, float]:
    """Median CPU seconds of `fn_a` and `fn_b`, and the median of their per-pair ratios.

    The two calls alternate (a, b, b, a, ...) and are timed with `time.process_time` (this process's CPU time),
    so a load swing on the shared machine lands on both sides instead of on whichever ran second.
    """
    fn_a(), fn_b()  # warm-up
    t_a, t_b = [], []
    for i in tqdm(range(repeats), desc=desc, leave=False):
        for fn, out in ((fn_a, t_a), (fn_b, t_b)) if i % 2 == 0 else ((fn_b, t_b), (fn_a, t_a)):
            start = time.process_time()
            fn()
            out.append(time.process_time() - start)
    ratios = [a / b for a, b in zip(t_a, t_b) if b > 0]
    return statistics.median(t_a), statistics.median(t_b), statistics.median(ratios)


def bench_estimator(repeats: int, rng: np.random.Generator) -> None:
    prompts, n, width = 128, 5, 1024
    bsz = prompts * n
    lengths = rng.integers(16, width + 1, size=bsz)
    mask = (torch.arange(width)[None, :] < torch.from_numpy(lengths)[:, None]).to(torch.int64)
    rewards = torch.zeros(bsz, width)
    rewards[torch.arange(bsz), torch.from_numpy(lengths - 1)] = torch.from_numpy(rng.random(bsz)).float()
    index = np.array([f"uid{i // n}" for i in range(bsz)], dtype=object)
    algo = {"adv_estimator": "timerpo", "timerpo": {"alpha": 0.3}}
    ntb = {"grounding": rng.random(bsz)}

    t_ours, t_grpo, ratio = paired_seconds(
        lambda: compute_timerpo_advantage(rewards, mask, index, algo, non_tensor_batch=ntb),
        lambda: compute_grpo_outcome_advantage(rewards, mask, index, norm_adv_by_std_in_grpo=False),
        repeats,
        "timerpo vs grpo",
    )
    print(
        f"[1] estimator, {bsz} rows x {width} tokens: timerpo {t_ours * 1e3:.2f} ms, verl grpo {t_grpo * 1e3:.2f} ms"
        f" -> ratio {ratio:.2f}x (target <= 1.5x)"
    )


def plain_pot_score(H_r: np.ndarray, H_e: np.ndarray, eps: float, n_iter: int, tau: float) -> float:
    """The same score written directly on POT, no input guards."""
    n_r, n_e = np.linalg.norm(H_r, axis=1), np.linalg.norm(H_e, axis=1)
    a, b = softmax(n_r), softmax(n_e)
    C = 1.0 - (H_r / n_r[:, None]) @ (H_e / n_e[:, None]).T
    T = pot.sinkhorn(a, b, C, eps, numItermax=n_iter)
    return float(np.exp(-np.sum(T * C) / tau))


def bench_ot(repeats: int, rng: np.random.Generator) -> None:
    # MiniLM-like hidden states: D = 384, token norms spread around 6 +- 1
    H_r = rng.normal(size=(512, 384)) * rng.normal(6, 1, size=(512, 1)) / np.sqrt(384)
    H_e = rng.normal(size=(512, 384)) * rng.normal(6, 1, size=(512, 1)) / np.sqrt(384)
    t_ours, t_pot, ratio = paired_seconds(
        lambda: ot_score(H_r, H_e, 0.08, 50, 0.5), lambda: plain_pot_score(H_r, H_e, 0.08, 50, 0.5), repeats, "OT"
    )
    diff = abs(ot_score(H_r, H_e, 0.08, 50, 0.5) - plain_pot_score(H_r, H_e, 0.08, 50, 0.5))
    print(
        f"[2] OT score, 512 x 512 tokens: ours {t_ours * 1e3:.2f} ms, plain POT {t_pot * 1e3:.2f} ms"
        f" -> ratio {ratio:.2f}x (target <= 1.1x); |score difference| {diff:.1e}"
    )


def _responses(count: int, rng: np.random.Generator) -> list[str]:
    out = []
    for i in range(count):
        s = int(rng.integers(0, 900))
        out.append(
            "<think>Observation: the series oscillates around zero with a stable period of about 33 points. "
            f"Between t={s} and t={s + 40} the level jumps well outside the usual band, roughly "
            f"{rng.uniform(3, 6):.1f} standard deviations, while the rest of the plot keeps its amplitude. "
            "Reasoning: a sustained shift of the level, not a single spike, points to a range anomaly; the "
            "period is unchanged, so it is not seasonal, and there is no change of slope, so it is not a trend. "
            f"Conclusion: one anomalous interval.</think><answer>[[{s}, {s + 40}]]</answer>"
            f"<class>{'global point' if i % 2 else 'contextual point'}</class>"
        )
    return out


def bench_grounding(count: int, rng: np.random.Generator) -> None:
    stumpy_cache.enable()
    series = generate("anomllm", "range", 0, 0)
    label = class_for(series.category, bool(series.intervals))
    reference = faithful_trace(series.values, series.category, series.intervals, label)
    responses = _responses(count, rng)

    start = time.perf_counter()
    scorer = get_scorer(GROUNDING)
    grounding_score(responses[0], reference, GROUNDING)  # loads MiniLM, caches the reference embedding
    t_load = time.perf_counter() - start

    t_encode, t_score = [], []
    for text in tqdm(responses, desc="grounding", leave=False):
        start = time.perf_counter()
        scorer.encoder.encode([text])
        t_encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        grounding_score(text, reference, GROUNDING)
        t_score.append(time.perf_counter() - start)
    enc, score = statistics.median(t_encode), statistics.median(t_score)
    print(
        f"[3] grounding_score, default CPU encoder (MiniLM): {score * 1e3:.1f} ms per response "
        f"({1 / score:.0f} responses/s per worker); encoder forward alone {enc * 1e3:.1f} ms -> ratio "
        f"{score / enc:.2f}x; one-off encoder load + first reference {t_load:.1f} s"
    )


def bench_batched_ot(pairs: int, dim: int, device: str, rng: np.random.Generator) -> None:
    """One step's pairs through the batched torch OT against a loop of plain POT calls (wall seconds, one run each:
    the loop is long enough to average the machine's noise)."""
    # policy-like hidden states: token norms spread around 40 +- 8 (a softmax over them is peaked, as in LLMs)
    responses = [rng.normal(size=(512, dim)) * rng.normal(40, 8, size=(512, 1)) / np.sqrt(dim) for _ in range(4)]
    references = [rng.normal(size=(512, dim)) * rng.normal(40, 8, size=(512, 1)) / np.sqrt(dim) for _ in range(4)]
    pick = [(i % 4, (i * 7 + 1) % 4) for i in range(pairs)]  # 16 distinct combinations, every pair recomputed
    H_r32 = [torch.from_numpy(responses[i]).float().to(device) for i, _ in pick]
    H_e32 = [torch.from_numpy(references[j]).float().to(device) for _, j in pick]

    ot_scores(H_r32[:2], H_e32[:2])  # warm-up
    start = time.perf_counter()
    batched = ot_scores(H_r32, H_e32, eps=0.08, n_iter=50, tau=0.5).score.cpu().numpy()
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    looped = np.array(
        [
            plain_pot_score(responses[i], references[j], 0.08, 50, 0.5)
            for i, j in tqdm(pick, desc="POT loop", leave=False)
        ]
    )
    t_loop = time.perf_counter() - start
    diff = float(np.max(np.abs(batched - looped)))
    print(
        f"[4] policy-source batched OT, {pairs} pairs of 512 x 512 tokens (D = {dim}, float32 states, {device}): "
        f"{t_batched:.2f} s, per-pair POT loop (float64) {t_loop:.2f} s -> {t_loop / t_batched:.2f}x faster "
        f"(target >= 5x); max |score difference| {diff:.1e}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed repetitions per measurement (>= 1)")
    parser.add_argument("--responses", type=int, default=24, help="responses timed for grounding (>= 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (>= 1)")
    parser.add_argument("--ot-pairs", type=int, default=640, help="pairs for the batched OT benchmark (>= 1)")
    parser.add_argument("--ot-dim", type=int, default=2048, help="hidden size for the batched OT (2048 = the 3B)")
    parser.add_argument("--ot-device", default="cpu", help="torch device of the batched OT (cpu, cuda)")
    args = parser.parse_args(argv)
    if min(args.repeats, args.responses, args.threads, args.ot_pairs, args.ot_dim) < 1:
        parser.error("--repeats, --responses, --threads, --ot-pairs and --ot-dim must be >= 1")
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    print(f"torch threads: {torch.get_num_threads()}; CPU-time medians of {args.repeats} interleaved runs")
    bench_estimator(args.repeats, rng)
    bench_ot(args.repeats, rng)
    bench_grounding(args.responses, rng)
    bench_batched_ot(args.ot_pairs, args.ot_dim, args.ot_device, rng)


if __name__ == "__main__":
    main()
