# Input/param functions of the GPL stage (gpl.smk).
GPL = config["gpl"]
GPL_BASES = list(GPL["base"])
GPL_BASE_RE = "|".join(map(re.escape, GPL_BASES)) if GPL_BASES else "^$"  # constraint of the {base} wildcard
GPL_DATASETS = list(GPL["datasets"])
GPL_Q = GPL["queries"]
GPL_NEG = GPL["negatives"]
GPL_PL = GPL["pseudo_labels"]
GPL_TRAIN = GPL["train"]
GPL_TRAIN_DEVICE = GPL_TRAIN.get("device") or DEVICE  # gpl.train.device, null: retrieval.device
GPL_CHECK = GPL["teacher_check"]


def gpl_common_args():
    return " ".join([device_args()] + local_dir_args())


def gpl_model_id(name):
    """A miner / base given as a key of `models` -> its id; "base" is resolved by the caller; else as is."""
    return config["models"][name]["id"] if name in config["models"] else name


def gpl_miners(wildcards):
    return [gpl_model_id(wildcards.base if m == "base" else m) for m in GPL_NEG["miners"]]


def gpl_queries_args(wildcards):
    cfg = GPL_Q
    backend = cfg["backend"]
    args = [f"--backend {backend} --seed {config['seed']}"]
    if backend == "train-queries":
        args.append(f"--split {quoted(cfg['split'])}")
    else:
        args.append(f"--qpp {cfg['qpp']} --passages {cfg['passages'] or 0}")
    if backend == "ict":
        args.append(f"--min-words {cfg['min_words']} --max-words {cfg['max_words']}")
    if backend == "t5":
        args.append(
            f"--generator {quoted(cfg['generator'])} --batch {cfg['batch']} --max-length {cfg['max_length']}"
            f" --top-p {cfg['top_p']} --top-k {cfg['top_k']} {gpl_common_args()}"
        )
    return " ".join(args)


def gpl_corpus_emb(wildcards):
    """The base model's corpus embeddings (the encode step's) when the base is a miner: no re-encoding."""
    if "base" in GPL_NEG["miners"]:
        return [f"results/embeddings/{wildcards.base}/{wildcards.dataset}/corpus.npy"]
    return []


def gpl_negatives_args(wildcards):
    miners = " ".join(quoted(m) for m in gpl_miners(wildcards))
    args = [f"--miners {miners} --k {GPL_NEG['k']} --score {GPL_NEG['score']}", gpl_common_args()]
    base_id = quoted(gpl_model_id(wildcards.base))
    args += [f"--corpus-emb {base_id}={quoted(f)}" for f in gpl_corpus_emb(wildcards)]
    return " ".join(args)


def gpl_teacher():
    """The configured teacher (HF id / folder), else the pipeline's cross-encoder."""
    return GPL["teacher"] or ce_model_path()


def gpl_teacher_input(wildcards):
    return [] if GPL["teacher"] else ce_model_input()


def gpl_pseudo_labels_emb(wildcards):
    """The ensemble's student component reads the base model's cached corpus embeddings."""
    if "student" in GPL["teacher_ensemble"]:
        return [f"results/embeddings/{wildcards.base}/{wildcards.dataset}/corpus.npy"]
    return []


def gpl_teacher_args():
    """--ce-max-length and --relevant-label of the teacher (the pipeline reranker's settings when it is the teacher)."""
    args = []
    ce_len = GPL_PL["ce_max_length"] or (None if GPL["teacher"] else CE["max_length"])
    if ce_len:
        args.append(f"--ce-max-length {ce_len}")
    rel = GPL_PL["relevant_label"] if GPL["teacher"] else CE["relevant_label"]
    if rel is not None:
        args.append(f"--relevant-label {rel}")
    return args


def gpl_check_split(wildcards):
    return GPL_CHECK["split"] or config["datasets"][wildcards.dataset]["eval_split"]


def gpl_teacher_check_args(wildcards):
    base = wildcards.base
    args = [
        f"--teacher {quoted(gpl_teacher())} --student {quoted(base)} --score {config['models'][base]['score']}",
        f"--split {quoted(gpl_check_split(wildcards))} --eval-split {eval_split(wildcards)}",
        f"--queries {GPL_CHECK['queries']} --depth {GPL_CHECK['depth']} --seed {config['seed']}",
        f"--max-tokens {GPL_PL['max_tokens']} --max-batch {GPL_PL['max_batch']}",
        gpl_common_args(),
    ]
    if GPL["teacher_ensemble"]:
        bm25 = config["retrieval"]["bm25"]
        args.append(
            f"--ensemble {' '.join(GPL['teacher_ensemble'])} --k1 {bm25['k1']} --b {bm25['b']}"
            f" --stemmer {quoted(bm25['stemmer'])}"
        )
    return " ".join(args + gpl_teacher_args())


def gpl_pseudo_labels_args(wildcards):
    args = [
        f"--teacher {quoted(gpl_teacher())} --steps {GPL_TRAIN['steps']} --batch {GPL_TRAIN['batch']}",
        f"--max-length {GPL_PL['max_length']} --seed {config['seed']} --chunk {GPL_PL['chunk']}",
        f"--max-tokens {GPL_PL['max_tokens']} --max-batch {GPL_PL['max_batch']}",
        gpl_common_args(),
    ]
    # without a teacher of its own, GPL scores with the pipeline's reranker and its settings
    args += gpl_teacher_args()
    if GPL["require_stronger_teacher"]:
        args.append("--require-stronger-teacher")
    if GPL["teacher_ensemble"]:
        args.append(f"--ensemble {' '.join(GPL['teacher_ensemble'])}")
        args.append(f"--student-model {quoted(gpl_model_id(wildcards.base))}")
        if "student" in GPL["teacher_ensemble"]:
            args.append(f"--corpus-emb results/embeddings/{wildcards.base}/{wildcards.dataset}/corpus.npy")
    return " ".join(args)


def gpl_train_args(wildcards):
    t = GPL_TRAIN
    args = [
        f"--base {quoted(gpl_model_id(wildcards.base))} --steps {t['steps']} --batch {t['batch']}"
        f" --max-length {t['max_length']}",
        f"--lr {t['lr']} --warmup-steps {t['warmup_steps']} --weight-decay {t['weight_decay']}",
        f"--seed {config['seed']} --checkpoint-every {t['checkpoint_every']} --log-every {t['log_every']}",
        f"--device {quoted(GPL_TRAIN_DEVICE)}",
    ]
    if t["rescale_range"]:
        args.append(f"--rescale-range {t['rescale_range'][0]} {t['rescale_range'][1]}")
    return " ".join(args + local_dir_args())


def gpl_adapted_name(base, dataset):
    """The key of `models` whose id is this GPL run's output folder (None when it is not listed)."""
    folder = f"results/gpl/{base}-{dataset}/model"
    for name, m in config["models"].items():
        if str(m["id"]).rstrip("/") == folder and name in DENSE:
            return name
    return None


def gpl_pairs():
    """(base, dataset, adapted model key) for every adapted model listed in models and retrieval.dense."""
    out = []
    for b in GPL_BASES:
        for d in GPL_DATASETS:
            a = gpl_adapted_name(b, d)
            if a and b in DENSE and d in model_datasets(a) and d in model_datasets(b):
                out.append((b, d, a))
    return out


def gpl_evaluate_inputs(wildcards=None):
    return [f"results/retrieval/{d}/{m}/per_query.tsv" for b, d, a in gpl_pairs() for m in (b, a)]


def gpl_teacher_checks(wildcards=None):
    return [f"results/gpl/{b}-{d}/teacher-check.json" for b, d, a in gpl_pairs()]


def gpl_evaluate_args(wildcards=None):
    return " ".join(
        f"--compare {d} {b}=results/retrieval/{d}/{b}/per_query.tsv {a}=results/retrieval/{d}/{a}/per_query.tsv"
        f" --teacher-check {d} {b} results/gpl/{b}-{d}/teacher-check.json"
        for b, d, a in gpl_pairs()
    )


def gpl_targets():
    """Adapted models of every (base, dataset); the comparison table when adapted models are evaluated."""
    out = expand("results/gpl/{base}-{dataset}/model", base=GPL_BASES, dataset=GPL_DATASETS)
    if gpl_pairs():
        out += ["reports/tables/gpl/base-vs-adapted.md", "reports/tables/gpl/base-vs-adapted.csv"]
    return out
