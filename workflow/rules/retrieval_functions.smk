# Input/param functions of the retrieval stage (retrieval.smk).
ENCODE = config["retrieval"]["encode"]
BM25 = config["retrieval"]["bm25"]


def model_folder_input(wildcards):
    """A model the pipeline builds itself (id = a folder under results/, e.g. a GPL-adapted model) as an input."""
    mid = str(model_cfg(wildcards.model)["id"]).rstrip("/")
    return [mid] if mid.startswith("results/") else []


def encode_args(wildcards):
    m = model_cfg(wildcards.model)
    args = [
        f"--model {quoted(m['id'])}",
        device_args(),
        f"--max-tokens {ENCODE['max_tokens']} --max-batch {ENCODE['max_batch']}",
    ]
    args += local_dir_args()
    if m.get("max_seq_length"):
        args.append(f"--max-seq-length {m['max_seq_length']}")
    if getattr(wildcards, "side", None) == "sentences":
        args.append(f"--sentences-per-doc {sae_sentences()} --seed {config['seed']}")
    return " ".join(args)


def eval_split(wildcards):
    return quoted(config["datasets"][wildcards.dataset]["eval_split"])


def retriever_label(wildcards):
    r = wildcards.retriever
    if r == "bm25":
        backend = f"bm25s lucene k1={BM25['k1']} b={BM25['b']} stemmer={BM25['stemmer']}"
    else:
        m = model_cfg(r)
        r, backend = m["id"], f"exact dense {m['score']}"
    return f"--model {quoted(r)} --backend {shlex.quote(backend)}"
