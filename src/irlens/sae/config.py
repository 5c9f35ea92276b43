"""SAE settings without heavy imports: :class:`SAEConfig` (a model's shape and sparsity), :class:`TrainConfig`
(every knob of training) and :data:`RECOMMENDED`. Importing this module loads neither torch nor numpy, so
the CLI can build its parser from these fields in any env."""

from __future__ import annotations

from dataclasses import dataclass

from irlens.errors import IrlensError


@dataclass
class SAEConfig:
    """Shape and sparsity of a :class:`TopKSAE`."""

    d_model: int  # input (embedding) width d
    n_latents: int  # dictionary size L
    k: int  # latents kept per input (TopK)
    aux_k: int = 256  # dead latents used by the AuxK loss (OpenAI default 256; dictionary_learning: d/2)
    dead_after: int = 50_000  # a latent is dead after this many training inputs without firing
    tied: bool = False  # encoder ≡ decoderᵀ throughout training (not only at init): no separate W_enc
    refine_steps: int = 0  # inference only: iterative-hard-thresholding steps after the encoder (0: encoder codes)
    refine_step: float = 1.5  # IHT step size, in units of 1 / ‖W_dec‖₂²
    refine_momentum: float = 0.0  # IHT momentum β (accelerated IHT): extrapolate from the last two iterates

    def __post_init__(self) -> None:
        if not (0 < self.k <= self.n_latents):
            raise IrlensError(f"SAE k={self.k} must be in 1..n_latents={self.n_latents}")
        if (
            self.d_model <= 0
            or self.aux_k < 0
            or self.dead_after <= 0
            or self.refine_steps < 0
            or self.refine_step <= 0
            or not 0 <= self.refine_momentum < 1
        ):
            raise IrlensError(
                f"SAE config: d_model={self.d_model} must be > 0, aux_k={self.aux_k} >= 0, "
                f"dead_after={self.dead_after} > 0, refine_steps={self.refine_steps} >= 0, "
                f"refine_step={self.refine_step} > 0, refine_momentum={self.refine_momentum} in [0, 1)"
            )


LOSSES = ("fvu-kl", "embedding-scope")
LATENT_LOSSES = ("kl", "infonce", "mse")
ANCHORS = ("queries", "queries+docs")
AUGMENTS = ("none", "mixup", "noise")


@dataclass
class TrainConfig:
    """Every knob of SAE training. Defaults: a plain FVU-only TopK SAE (λ = 0, no refinement);
    :meth:`recommended` gives the configuration recommended for the embedded MiniLM run."""

    n_latents: int = 4096
    k: int = 64
    aux_k: int = 256  # dead latents reconstructing the residual in AuxK
    aux_coef: float = 1 / 32
    dead_after: int = 10_000  # training inputs without firing ⇒ dead (AuxK)
    tied: bool = False  # encoder ≡ decoderᵀ (see TopKSAE)
    refine_steps: int = 0  # stored with the model: IHT steps after the encoder at inference (TopKSAE.refine)
    refine_step: float = 1.5
    refine_momentum: float = 0.0
    loss: str = "fvu-kl"  # or "embedding-scope"
    lam: float = 0.0  # λ: weight of the KL on reconstructed scores
    tau: float = 0.05  # τ of both softmaxes in that KL (MiniLM was trained with scale 20 = 1/0.05)
    n: int = 8  # dense neighbours per anchor
    in_batch: bool = True  # the batch's other neighbours are extra candidates (negatives)
    lam_latent: float = 0.0  # weight of the retrieval loss on latent scores z_q·z_d
    lam_gram: float = 0.0  # weight of the latent isometry term: z_a·z_b ≈ (x_a − b)·(x_b − b) over batch pairs
    tau_latent: float = 0.05
    latent_loss: str = "kl"  # "kl" (against dense scores), "infonce" (dense top-1 as positive) or "mse" (score FVU)
    latent_norm: bool = False  # L2-normalise codes in the latent scores (train and evaluate alike)
    latent_power: float = 1.0  # codes mapped to z^p in the latent scores before normalising (0.5: the √-cos scoring)
    anchors: str = "queries"  # or "queries+docs": documents as pseudo-queries too
    augment: str = (
        "none"  # "mixup": reconstruction rows replaced by normalised mixtures with a random pool row, or "noise"
    )
    aug_prob: float = 0.5  # share of reconstruction rows augmented
    aug_strength: float = 0.5  # mixup: λ ~ U(0, strength); noise: norm of the added random vector
    es_scale: float | None = None  # embedding-scope: score scale (None: 1/sqrt(D))
    es_reduction: str = "sum"  # embedding-scope: F.kl_div reduction
    epochs: int = 60
    batch: int = 256  # reconstruction rows per step
    batch_queries: int = 64  # anchors per step
    lr: float = 1e-3
    warmup_steps: int = 100
    grad_clip: float | None = None
    seed: int = 0
    log_every: int = 1  # epochs between log lines

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise IrlensError(f"SAE loss '{self.loss}' unknown; choose one of {', '.join(LOSSES)}")
        if self.latent_loss not in LATENT_LOSSES:
            raise IrlensError(f"SAE latent_loss '{self.latent_loss}' unknown; choose one of {', '.join(LATENT_LOSSES)}")
        if self.anchors not in ANCHORS:
            raise IrlensError(f"SAE anchors '{self.anchors}' unknown; choose one of {', '.join(ANCHORS)}")
        if self.augment not in AUGMENTS:
            raise IrlensError(f"SAE augment '{self.augment}' unknown; choose one of {', '.join(AUGMENTS)}")
        if self.epochs < 1 or self.batch < 1 or self.batch_queries < 0 or self.n < 1:
            raise IrlensError("SAE training: epochs, batch and n must be >= 1, batch_queries >= 0")
        if not 0 < self.latent_power <= 1:
            raise IrlensError(f"SAE training: latent_power must be in (0, 1], got {self.latent_power}")
        if self.tau <= 0 or self.tau_latent <= 0 or self.lr <= 0:
            raise IrlensError("SAE training: tau, tau_latent and lr must be > 0")

    @classmethod
    def recommended(cls, **overrides) -> TrainConfig:
        """The embedded-run recommendation (bench/sae_experiment.py, SciFact test): :data:`RECOMMENDED` + overrides."""
        return cls(**{**RECOMMENDED, **overrides})

    @property
    def uses_anchors(self) -> bool:
        """Whether a loss needs anchor queries and their neighbours in each batch."""
        return self.loss == "embedding-scope" or self.lam > 0 or self.lam_latent > 0

    def sae_config(self, d_model: int) -> SAEConfig:
        """The model configuration (:class:`SAEConfig`) these settings train, for embeddings of width ``d_model``."""
        return SAEConfig(
            d_model=d_model,
            n_latents=self.n_latents,
            k=self.k,
            aux_k=self.aux_k,
            dead_after=self.dead_after,
            tied=self.tied,
            refine_steps=self.refine_steps,
            refine_step=self.refine_step,
            refine_momentum=self.refine_momentum,
        )


# FVU + 0.1·KL on cosine latent scores (τ 0.05, in-batch, documents as pseudo-queries too); at inference
# 40 accelerated IHT refinement steps (step 3/‖W_dec‖², momentum 0.9). 25 epochs assume the workflow's
# training pool with corpus sentences (sae.sentences_per_doc 2: ~30k rows, ~3,000 steps; without the
# sentences, 12.8k rows, 60 epochs give the same number of steps). Measured on SciFact test and on 200
# held-out SciFact train queries with MiniLM: docs/stages/sae.md (bench/sae_experiment.py --holdout 200).
RECOMMENDED = {
    "n_latents": 4096,
    "k": 64,
    "epochs": 25,
    "lam": 0.0,
    "lam_latent": 0.1,
    "latent_norm": True,
    "tau_latent": 0.05,
    "in_batch": True,
    "anchors": "queries+docs",
    "batch_queries": 32,
    "refine_steps": 40,
    "refine_step": 3.0,
    "refine_momentum": 0.9,
}
