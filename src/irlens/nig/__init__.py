"""The NIG stage: Neuron Integrated Gradients (conductance) of every Linear output of a cross-encoder.

==================  ============================================================  =============================
rule / subcommand   function                                                      output
==================  ============================================================  =============================
``nig_pairs``       :func:`~irlens.nig.pairs.select_pairs`                        ``pairs.parquet`` (+ ``.json``)
``nig_attribute``   :func:`~irlens.nig.pairs.attribute_pairs` with                ``<prefix>.npy``,
                    :class:`~irlens.nig.attribute.CrossEncoderNIG`                ``.neurons.parquet``, ``.pairs.parquet``
``nig_merge``       (concatenation in pair order)                                 the merged shard files
``nig_baselines``   :func:`~irlens.nig.attribute.baseline_effect`                 Table 1 (md + csv)
``nig_schemes``     :func:`~irlens.nig.schemes.base_schemes`,                     ``values/sets/intersections.parquet``,
                    :func:`~irlens.nig.schemes.scheme_sets`,                      scheme, intersection and
                    :func:`~irlens.nig.schemes.intersection_table`                completeness tables
``nig_figures``     :mod:`irlens.nig.figures`                                     figures 2–4 (PNG + PDF)
==================  ============================================================  =============================

Each rule calls ``irlens nig <subcommand>`` (:mod:`irlens.cli.nig`). The Stieltjes rules and the neuron
layout are shared with ablation and live in :mod:`irlens.attribution`.
"""

from irlens.nig.attribute import BASELINES, RULES, CrossEncoderNIG, NIGResult, baseline_effect, check_settings

__all__ = ["BASELINES", "RULES", "CrossEncoderNIG", "NIGResult", "baseline_effect", "check_settings"]
