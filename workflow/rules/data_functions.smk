# Input/param functions of the data stage (data.smk).


def dataset_source_files(wildcards):
    """Files of the first local mirror holding the dataset (so edits there trigger a rebuild)."""
    for mirror in config["data"]["mirrors"]:
        folder = Path(mirror) / wildcards.dataset
        if (folder / "corpus.jsonl").is_file():
            files = [folder / "corpus.jsonl", folder / "queries.jsonl"]
            files += [folder / "qrels" / f"{s}.tsv" for s in config["datasets"][wildcards.dataset]["splits"]]
            return [str(f) for f in files if f.is_file()]
    return []


def data_args(wildcards):
    d = config["data"]
    args = [f"--mirror {quoted(m)}" for m in d["mirrors"]]
    args.append(f"--download-dir {quoted(d['download_dir'])}")
    irds = d["ir_datasets"].get(wildcards.dataset)
    if irds:
        args.append(f"--irds {quoted(irds)}")
    args += [f"--split {quoted(s)}" for s in config["datasets"][wildcards.dataset]["splits"]]
    # passed when not the default (the CLI's default is the schema's): existing results keep their params
    for key in ("empty_texts", "dangling_qrels"):
        if d[key] != "error":
            args.append(f"--{key.replace('_', '-')} {d[key]}")
    sub = d.get("subsample")
    if sub:
        args.append(
            f"--subsample-queries {sub['queries']} --subsample-distractors {sub['distractors']} --seed {config['seed']}"
        )
    return " ".join(args)
