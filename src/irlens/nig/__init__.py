"""The NIG stage: Neuron Integrated Gradients (conductance) of every Linear output of a cross-encoder.

==================  ================================================  ====================================
rule / subcommand   function                                          output
==================  ================================================  ====================================
``nig_pairs``       :func:`~irlens.nig.pairs.select_pairs`            ``pairs.parquet`` (+ ``.json``)
``nig_attribute``   :func:`~irlens.nig.pairs.attribute_pairs` with    ``<prefix>.npy``, ``.neurons.parquet``,
                    :class:`~irlens.nig.attribute.CrossEncoderNIG`    ``.pairs.parquet``
``nig_merge``       :func:`~irlens.nig.pairs.merge_shards`            the merged shard files (pair order)
``nig_baselines``   :func:`~irlens.nig.attribute.baseline_table`      Table 1 (md + csv)
``nig_schemes``     :func:`~irlens.nig.schemes.compute_schemes`,      ``values/sets/intersections.parquet``,
                    :func:`~irlens.nig.schemes.write_schemes`         scheme, intersection and
                                                                      completeness tables
``nig_figures``     :mod:`irlens.nig.figures`                         figures 2–4 (PNG + PDF)
==================  ================================================  ====================================

Each rule calls ``irlens nig <subcommand>`` (:mod:`irlens.cli.nig`). The Stieltjes rules and the neuron
layout are shared with ablation and live in :mod:`irlens.attribution`.
"""

from irlens.nig.attribute import BASELINES, RULES, CrossEncoderNIG, NIGResult, baseline_effect, check_settings

__all__ = ["BASELINES", "RULES", "CrossEncoderNIG", "NIGResult", "baseline_effect", "check_settings"]
