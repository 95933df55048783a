"""SpAtten workload traces from the published Transformers (random weights, seeded).

:func:`run_spatten` builds one of :data:`~sparsa.models.algorithms.transformer.TRANSFORMERS`, runs
SpAtten's algorithm (:mod:`sparsa.models.algorithms.spatten_pruning`) on a random prompt and returns
the run with its trace, in the public format (:mod:`sparsa.models.algorithms.spatten_trace`). GPT-2
runs the prompt (iteration 0, whose last token's output gives the first generated token) and then
``steps - 1`` generation steps with a KV cache, each feeding back the greedy (argmax) token,
so that ``steps`` tokens are generated and iteration t has a context of ``prompt_len + t``
tokens; the paper's GPT-2 workload is a 992-token prompt and 32 generated tokens (spatten.md
3). BERT runs one iteration on ``prompt_len`` tokens, its output read from the first token
(the pooler's).
"""

import time
from dataclasses import dataclass

import numpy as np
import torch

from sparsa.config.checks import is_int
from sparsa.config.presets import BERT_SEQ_LEN, GPT2_GENERATED, GPT2_PROMPT
from sparsa.models.algorithms.spatten_pruning import SpattenAttention, SpattenPolicy
from sparsa.models.algorithms.spatten_trace import SpattenTrace
from sparsa.models.algorithms.transformer import TRANSFORMERS, KVCache, Transformer
from sparsa.models.experiments.threads import torch_threads

__all__ = ["SpattenRun", "run_spatten"]


@dataclass(frozen=True)
class SpattenRun:
    """A run of SpAtten's algorithm on a model.

    Attributes
    ----------
    trace : SpattenTrace
    attention : SpattenAttention
        Its state and per-layer records
        (:class:`~sparsa.models.algorithms.spatten_pruning.LayerRecord`).
    generated : torch.Tensor
        (steps,) ids of the generated tokens (empty for an encoder).
    seconds : float
        Wall time of the model's forward passes (building the model not included).
    threads : int
        PyTorch CPU threads they ran on.
    """

    trace: SpattenTrace
    attention: SpattenAttention
    generated: torch.Tensor
    seconds: float
    threads: int

    @property
    def refetch_fraction(self) -> float | None:
        """Fraction of per-query decisions that refetched the LSBs (None: no requant)."""
        return self.attention.refetch_fraction

    def kept_keys(self, iteration: int) -> np.ndarray:
        """Keys fetched per layer in ``iteration`` (the same for every head of a layer)."""
        t = self.trace
        rows = t.iteration == iteration
        if not rows.any():
            raise ValueError(
                f"iteration {iteration} is not in the trace (0 to {int(t.iteration.max())})"
            )
        kept = np.zeros(t.layers, dtype=np.int64)
        kept[t.layer[rows]] = t.key_fetch[rows]
        return kept


def _check_positive(name: str, value: object) -> None:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def run_spatten(
    model_name: str,
    *,
    prompt_len: int | None = None,
    steps: int | None = None,
    policy: SpattenPolicy | None = None,
    seed: int = 0,
    threads: int = 1,
) -> SpattenRun:
    """Run SpAtten's algorithm on ``model_name`` with random weights and a random prompt.

    Parameters
    ----------
    model_name : str
        One of :data:`~sparsa.models.algorithms.transformer.TRANSFORMERS`.
    prompt_len : int, optional
        Tokens of the prompt (GPT-2; default 992) or of the input (BERT; default 128), at most
        the model's positions.
    steps : int, optional
        Generated tokens = iterations (GPT-2; default 32, and ``prompt_len + steps - 1`` must
        fit the 1,024 positions); 1 for BERT (the default).
    policy : SpattenPolicy, optional
        What SpAtten switches on (:class:`~sparsa.models.algorithms.spatten_pruning.SpattenPolicy`,
        which checks its own settings); default: plain attention.
    seed : int
        Seeds the weights and the prompt.
    threads : int
        PyTorch CPU threads (:func:`sparsa.models.experiments.threads.torch_threads`).

    Returns
    -------
    SpattenRun

    Raises
    ------
    ValueError
        Naming the bad value and what is allowed: an unknown model, a prompt or step count
        that is not a positive integer or does not fit the model, generation steps for BERT.
    TypeError
        If ``policy`` is not a :class:`~sparsa.models.algorithms.spatten_pruning.SpattenPolicy`.
    """
    if model_name not in TRANSFORMERS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {sorted(TRANSFORMERS)}")
    config = TRANSFORMERS[model_name]
    if prompt_len is None:
        prompt_len = GPT2_PROMPT if config.causal else BERT_SEQ_LEN
    if steps is None:
        steps = GPT2_GENERATED if config.causal else 1
    _check_positive("prompt_len", prompt_len)
    _check_positive("steps", steps)
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    _check_positive("threads", threads)
    if not config.causal and steps != 1:
        raise ValueError(
            f"steps = {steps}: {model_name} is an encoder, it runs one iteration; allowed: 1"
        )
    if prompt_len + steps - 1 > config.max_positions:
        raise ValueError(
            f"prompt_len = {prompt_len} with steps = {steps} needs "
            f"{prompt_len + steps - 1} positions; {model_name} has "
            f"{config.max_positions}"
        )
    if policy is None:
        policy = SpattenPolicy()
    elif not isinstance(policy, SpattenPolicy):
        raise TypeError(f"policy must be a SpattenPolicy, not {type(policy).__name__}")
    model = Transformer(config, seed=seed).eval()
    attention = SpattenAttention(
        policy,
        layers=config.layers,
        heads=config.heads,
        readout="last" if config.causal else "first",
    )
    ids = torch.randint(
        config.vocab, (1, prompt_len), generator=torch.Generator().manual_seed(seed)
    )
    generated = []
    start = time.perf_counter()
    with torch_threads(threads), torch.inference_mode():
        cache = KVCache(config.layers) if config.causal else None
        hidden = model(ids, attention=attention, cache=cache)
        for step in range(steps if config.causal else 0):
            token = model.lm_logits(hidden[:, -1]).argmax(dim=-1, keepdim=True)
            generated.append(token)
            if step + 1 < steps:
                hidden = model(token, attention=attention, cache=cache)
    seconds = time.perf_counter() - start
    name = (
        f"sparsa {model_name} prompt_len {prompt_len} steps {steps} seed {seed} {policy.describe()}"
    )
    trace = attention.to_trace(model=model_name, config=name)
    tokens = torch.cat(generated, dim=1)[0] if generated else torch.zeros(0, dtype=torch.int64)
    return SpattenRun(
        trace=trace, attention=attention, generated=tokens, seconds=seconds, threads=threads
    )
