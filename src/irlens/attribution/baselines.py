"""One baseline vocabulary for every attribution method (IG on bi-encoders, NIG on cross-encoders).

A baseline x′ is the input the path integral starts from. Each name has one meaning wherever it is
accepted; each method accepts the subset it implements. IG interpolates at the embedding layer's
*output* (after position embeddings and LayerNorm), NIG in word-embedding space (position and token-type
embeddings are added afterwards), hence two zero baselines:

==============  =====================================================================  ==========
name            x′                                                                     methods
==============  =====================================================================  ==========
``pad``         every token but the special tokens ([CLS], [SEP]) → the [PAD] embedding  IG, NIG
``pad-all``     every token, special tokens included → [PAD]                           IG, NIG
``mask``        every token but the special tokens → [MASK]                            IG
``zero``        the zero vector at every position of the embedding output              IG
``zero-all``    every word embedding → the zero vector                                 NIG
``pad-query``   query tokens → [PAD]; [CLS]/[SEP] and the document kept                NIG
``zero-query``  query tokens → zero vectors; [CLS]/[SEP] and the document kept          NIG
==============  =====================================================================  ==========
"""

from __future__ import annotations

#: Every baseline name with a one-line meaning.
BASELINES = {
    "pad": "every token but [CLS]/[SEP] -> [PAD]",
    "pad-all": "every token -> [PAD]",
    "mask": "every token but [CLS]/[SEP] -> [MASK]",
    "zero": "zero vector at every position of the embedding output",
    "zero-all": "every word embedding -> zero vector",
    "pad-query": "query tokens -> [PAD]",
    "zero-query": "query tokens -> zero vectors",
}
#: Baselines of Integrated Gradients on bi-encoders (:class:`irlens.ig.BiEncoderIG`), the first the default.
IG_BASELINES = ("pad", "pad-all", "mask", "zero")
#: Baselines of Neuron IG on cross-encoders (:class:`irlens.nig.CrossEncoderNIG`, the paper's Table 1).
NIG_BASELINES = ("pad-all", "pad-query", "pad", "zero-all", "zero-query")
