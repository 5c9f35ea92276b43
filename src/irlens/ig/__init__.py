"""The IG stage: Integrated Gradients on dense bi-encoders, query and document side, base vs adapted.

==================  ==================================================  =========================================
rule / subcommand   function                                            output
==================  ==================================================  =========================================
``ig_attribute``    :func:`~irlens.ig.ranking.attribute_rankings` with  ``<prefix>.{tokens,words,pairs}.parquet``
                    :class:`~irlens.ig.bi_encoder.BiEncoderIG`,         (one shard)
                    :func:`~irlens.ig.ranking.write_tables`
``ig_merge``        :func:`~irlens.ig.ranking.read_tables`,             the merged tables
                    :func:`~irlens.ig.ranking.merge_tables`
``ig_baselines``    :func:`~irlens.ig.analysis.baseline_table`          baseline table (md + csv)
``ig_views``        :func:`~irlens.ig.views.write_views`                HTML page + heatmaps (PNG/PDF)
                    (:func:`~irlens.ig.views.pair_html`,
                    :func:`~irlens.ig.views.pair_heatmap`)
``ig_wordclouds``   :func:`~irlens.ig.views.write_wordclouds`           word clouds (PNG/PDF)
                    (:func:`~irlens.ig.analysis.aggregate_words`,
                    :func:`~irlens.ig.views.wordcloud_figure`)
``ig_tables``       :func:`~irlens.ig.analysis.completeness_summary`,   completeness, title share,
                    :func:`~irlens.ig.analysis.title_share`,            in-domain terms (md + csv)
                    :func:`~irlens.ig.analysis.domain_term_tables`
                    (:func:`~irlens.ig.analysis.domain_share`)
==================  ==================================================  =========================================

Each rule calls ``irlens ig <subcommand>`` (:mod:`irlens.cli.ig`). Shared maths (quadrature rules,
baseline vocabulary) live in :mod:`irlens.attribution`.
"""

from irlens.ig.bi_encoder import BASELINES, SCORES, SIDES, BiEncoderIG, TokenAttribution
from irlens.ig.words import merge_words

__all__ = ["BASELINES", "SCORES", "SIDES", "BiEncoderIG", "TokenAttribution", "merge_words"]
