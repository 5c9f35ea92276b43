# Ablation (arXiv 2406.19309 §5.3, Table 4): prune the neurons of each NIG scheme and random neurons in the
# same modules; per-query nDCG@10 on evaluation sets the attribution did not use; t-tests; table + figure.
# ablation_dose: one scheme's top-n neurons zeroed for a ladder of n vs random ones, on the pairs NIG attributed.


include: "ablation_functions.smk"


rule ablation_evalset:
    input:
        manifest="results/data/{dataset}/manifest.json",
        exclude=ablation_exclude_pairs,
    output:
        evalset="results/ablation/{ce}/{dataset}/evalset.parquet",
        summary="results/ablation/{ce}/{dataset}/evalset.json",
    log:
        "results/logs/ablation/evalset/{ce}/{dataset}.log",
    benchmark:
        "results/benchmarks/ablation/evalset/{ce}/{dataset}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        split=lambda wc: quoted(ABL_SETS[wc.dataset]["split"]),
        role=lambda wc: ABL_SETS[wc.dataset]["role"],
        exclude=lambda wc, input: " ".join(f"--exclude-pairs {p}" for p in input.exclude),
        queries=ABL["queries"],
        depth=ABL["depth"],
        max_relevant=ABL["max_relevant"],
        seed=config["seed"],
    shell:
        "irlens ablation evalset --data results/data/{wildcards.dataset} --dataset {wildcards.dataset} --split {params.split} "
        "--role '{params.role}' {params.exclude} --queries {params.queries} --depth {params.depth} --max-relevant {params.max_relevant} --seed {params.seed} "
        "--out {output.evalset} > {log} 2>&1"


rule ablation_run:
    input:
        evalset="results/ablation/{ce}/{dataset}/evalset.parquet",
        sets="results/nig/{ce}/schemes/sets.parquet",
        model=ce_model_input,
    output:
        table="results/ablation/{ce}/{dataset}/shards/{shard}-of-{nshards}.parquet",
        timing="results/ablation/{ce}/{dataset}/shards/{shard}-of-{nshards}.json",
    log:
        "results/logs/ablation/run/{ce}/{dataset}/{shard}-of-{nshards}.log",
    benchmark:
        "results/benchmarks/ablation/run/{ce}/{dataset}/{shard}-of-{nshards}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: ABL["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=gpus(),
    params:
        model=lambda wc: ce_model_args(),
        study=ablation_study_args,
    shell:
        "irlens ablation run {params.model} --threads {threads} --data results/data/{wildcards.dataset} "
        "--evalset {input.evalset} --sets {input.sets} {params.study} --shard {wildcards.shard} --shards {wildcards.nshards} "
        "--out {output.table} > {log} 2>&1"


rule ablation_merge:
    input:
        shards=lambda wc: expand(
            "results/ablation/{ce}/{dataset}/shards/{shard}-of-{n}.parquet",
            ce=wc.ce,
            dataset=wc.dataset,
            shard=range(ABL_SHARDS),
            n=ABL_SHARDS,
        ),
    output:
        "results/ablation/{ce}/{dataset}/all.parquet",
    log:
        "results/logs/ablation/merge/{ce}/{dataset}.log",
    benchmark:
        "results/benchmarks/ablation/merge/{ce}/{dataset}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        repeats=ABL["repeats"],
    shell:
        "irlens ablation merge --inputs {input.shards} --repeats {params.repeats} --out {output} > {log} 2>&1"


rule ablation_table:
    input:
        merged=expand("results/ablation/{{ce}}/{dataset}/all.parquet", dataset=list(ABL_SETS)),
    output:
        md=report(
            "reports/tables/ablation/{ce}/table4.md",
            caption="../report/ablation.rst",
            category="Ablation (cross-encoder)",
            labels={"table": "4: % drop of nDCG@10"},
        ),
        csv="reports/tables/ablation/{ce}/table4.csv",
        tex="reports/tables/ablation/{ce}/table4.tex",
    log:
        "results/logs/ablation/table/{ce}.log",
    benchmark:
        "results/benchmarks/ablation/table/{ce}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        inputs=ablation_inputs,
        roles=" ".join(f"--role {d}={v['role']}" for d, v in ABL_SETS.items() if v["role"]),
        correction=ABL["correction"],
    shell:
        "irlens ablation table {params.inputs} {params.roles} --correction {params.correction} --md {output.md} --csv {output.csv} --tex {output.tex} > {log} 2>&1"


rule ablation_figure:
    input:
        merged=expand("results/ablation/{{ce}}/{dataset}/all.parquet", dataset=list(ABL_SETS)),
    output:
        png=report(
            "reports/figures/ablation/{ce}/drops.png",
            caption="../report/ablation.rst",
            category="Ablation (cross-encoder)",
            labels={"figure": "drop per scheme vs random"},
        ),
        pdf="reports/figures/ablation/{ce}/drops.pdf",
    log:
        "results/logs/ablation/figure/{ce}.log",
    benchmark:
        "results/benchmarks/ablation/figure/{ce}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        inputs=ablation_inputs,
        correction=ABL["correction"],
    shell:
        "irlens ablation figure {params.inputs} --correction {params.correction} --title 'Ablation of {wildcards.ce}' --out reports/figures/ablation/{wildcards.ce}/drops > {log} 2>&1"


rule ablation_dose:
    input:
        values="results/nig/{ce}/schemes/values.parquet",
        roles="results/nig/{ce}/schemes/roles.json",
        pairs=ablation_dose_pairs,
        manifests=ablation_dose_manifests,
        model=ce_model_input,
    output:
        table="results/ablation/{ce}/dose/{scheme}.parquet",
        timing="results/ablation/{ce}/dose/{scheme}.json",
        md=report(
            "reports/tables/ablation/{ce}/dose-{scheme}.md",
            caption="../report/ablation_dose.rst",
            category="Ablation (cross-encoder)",
            labels={"table": "dose-response {scheme}"},
        ),
        csv="reports/tables/ablation/{ce}/dose-{scheme}.csv",
        png=report(
            "reports/figures/ablation/{ce}/dose-{scheme}.png",
            caption="../report/ablation_dose.rst",
            category="Ablation (cross-encoder)",
            labels={"figure": "dose-response {scheme}"},
        ),
        pdf="reports/figures/ablation/{ce}/dose-{scheme}.pdf",
    log:
        "results/logs/ablation/dose/{ce}/{scheme}.log",
    benchmark:
        "results/benchmarks/ablation/dose/{ce}/{scheme}.tsv"
    wildcard_constraints:
        ce=CE_NAME_RE,
        scheme=DOSE_SCHEME_RE,
    conda:
        "../../envs/attribution.yaml"
    threads: ABL["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=gpus(),
    params:
        model=lambda wc: ce_model_args(),
        dose=ablation_dose_args,
        figure=subpath(output.png, strip_suffix=".png"),
    shell:
        "irlens ablation dose {params.model} --threads {threads} --schemes-dir results/nig/{wildcards.ce}/schemes "
        "--pairs {input.pairs} {params.dose} --out {output.table} --md {output.md} --csv {output.csv} --figure {params.figure} > {log} 2>&1"
