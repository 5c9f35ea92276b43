# Sparse autoencoders over dense embeddings (arXiv 2411.00786):
# train each variant (main, sae.variants: paper / paper-mse, the K sweep) on cached embeddings -> evaluate dense
# vs reconstructed vs latent retrieval -> variants table + figure; main only: latent browser (N2G), control and
# causal checks of the interpreted latents; every variant also as a SAELens folder.
# Helper functions: sae_functions.smk.


include: "sae_functions.smk"


rule sae_train:
    input:
        sae_train_inputs,
    output:
        model=directory("results/sae/{model}/{variant}/model"),
    log:
        "results/logs/sae/train/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/sae/train/{model}/{variant}.tsv"
    wildcard_constraints:
        model=re.escape(SAE_MODEL) if SAE else "^$",
        variant="|".join(map(re.escape, sae_variants())) if SAE else "^$",
    conda:
        "../../envs/sae.yaml"
    threads: sae_train_threads
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=gpus(),
    params:
        args=sae_train_args,
    shell:
        "irlens sae train {params.args} --threads {threads} --out {output.model} > {log} 2>&1"


rule sae_evaluate:
    input:
        model="results/sae/{model}/{variant}/model",
        corpus=f"results/embeddings/{{model}}/{SAE_EVAL_DATASET}/corpus.npy",
        queries=f"results/embeddings/{{model}}/{SAE_EVAL_DATASET}/queries.npy",
        qrels_dir=sae_qrels_dir() if SAE else [],
    output:
        metrics=f"results/sae/{{model}}/{{variant}}/eval-{SAE_EVAL_DATASET}.json",
        codes=f"results/sae/{{model}}/{{variant}}/codes-{SAE_EVAL_DATASET}.npz",
    log:
        "results/logs/sae/evaluate/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/sae/evaluate/{model}/{variant}.tsv"
    conda:
        "../../envs/sae.yaml"
    threads: SAE_EVAL_THREADS
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        embeddings=lambda w, input: os.path.dirname(input.corpus),
        qrels=lambda w: sae_eval_qrels(),
    shell:
        "irlens sae evaluate --model {input.model} --embeddings {params.embeddings} --qrels {params.qrels} "
        "--codes-out {output.codes} --threads {threads} --out {output.metrics} > {log} 2>&1"


rule sae_table:
    input:
        lambda w: list(sae_evals().values()),
    output:
        md=report(
            "reports/tables/sae/{model}/variants.md",
            caption="../report/sae.rst",
            category="SAE (sparse autoencoders)",
            labels={"table": "SAE variants (markdown)"},
        ),
        csv="reports/tables/sae/{model}/variants.csv",
        png=report(
            "reports/figures/sae/{model}/variants.png",
            caption="../report/sae.rst",
            category="SAE (sparse autoencoders)",
            labels={"figure": "K sweep and λ on/off"},
        ),
        pdf="reports/figures/sae/{model}/variants.pdf",
    log:
        "results/logs/sae/table/{model}.log",
    benchmark:
        "results/benchmarks/sae/table/{model}.tsv"
    conda:
        "../../envs/sae.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=sae_table_args,
        title=lambda w: f"SAE over {w.model} on {SAE_EVAL['dataset']} {SAE_EVAL['split']}: % of dense nDCG@10",
    shell:
        "irlens sae table {params.args} --title '{params.title}' --md {output.md} --csv {output.csv} "
        "--figure {output.png} > {log} 2>&1"


rule sae_interpret:
    input:
        model="results/sae/{model}/main/model",
        corpus=f"results/embeddings/{{model}}/{SAE_EVAL_DATASET}/corpus.npy",
        codes=f"results/sae/{{model}}/main/codes-{SAE_EVAL_DATASET}.npz",
        manifest=f"results/data/{SAE_EVAL_DATASET}/manifest.json",
    output:
        json="results/sae/{model}/main/latents.json",
        html=report(
            "reports/sae/{model}/latents.html",
            caption="../report/sae_latents.rst",
            category="SAE (sparse autoencoders)",
            labels={"page": "most frequent latents"},
        ),
    log:
        "results/logs/sae/interpret/{model}.log",
    benchmark:
        "results/benchmarks/sae/interpret/{model}.tsv"
    conda:
        "../../envs/sae.yaml"
    threads: SAE_EVAL_THREADS
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=gpus(),
    params:
        dataset=SAE_EVAL_DATASET,
        embeddings=lambda w, input: os.path.dirname(input.corpus),
        qrels=lambda w: sae_eval_qrels(),
        encoder=lambda w: quoted(model_cfg(w.model)["id"]),
        local=" ".join(local_dir_args()),
        device=quoted(DEVICE),
        seed=config["seed"],
        opts=sae_option_args("interpret", ["latents", "top", "words", "n2g_examples", "n2g_eval"]),
        title=lambda w: f"SAE latents of {w.model} on {SAE_EVAL['dataset']}",
    shell:
        "irlens sae interpret --model {input.model} --embeddings {params.embeddings} "
        "--codes {input.codes} --data results/data/{params.dataset} "
        "--encoder {params.encoder} {params.local} --device {params.device} {params.opts} --seed {params.seed} "
        "--title '{params.title}' --threads {threads} --out-json {output.json} --out-html {output.html} > {log} 2>&1"


rule sae_control:
    input:
        model="results/sae/{model}/main/model",
        corpus=f"results/embeddings/{{model}}/{SAE_EVAL_DATASET}/corpus.npy",
        codes=f"results/sae/{{model}}/main/codes-{SAE_EVAL_DATASET}.npz",
        qrels_dir=sae_qrels_dir() if SAE else [],
    output:
        md=report(
            "reports/tables/sae/{model}/control.md",
            caption="../report/sae_control.rst",
            category="SAE (sparse autoencoders)",
            labels={"table": "control curves"},
        ),
        csv="reports/tables/sae/{model}/control.csv",
        png=report(
            "reports/figures/sae/{model}/control.png",
            caption="../report/sae_control.rst",
            category="SAE (sparse autoencoders)",
            labels={"figure": "control curves"},
        ),
        pdf="reports/figures/sae/{model}/control.pdf",
    log:
        "results/logs/sae/control/{model}.log",
    benchmark:
        "results/benchmarks/sae/control/{model}.tsv"
    conda:
        "../../envs/sae.yaml"
    threads: SAE_EVAL_THREADS
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        dataset=SAE_EVAL_DATASET,
        embeddings=lambda w, input: os.path.dirname(input.corpus),
        qrels=lambda w: sae_eval_qrels(),
        opts=sae_option_args("control", ["latents", "targets", "mode", "values", "prf_feedback_k", "prf_latents"]),
    shell:
        "irlens sae control --model {input.model} --embeddings {params.embeddings} "
        "--codes {input.codes} --qrels {params.qrels} {params.opts} "
        "--threads {threads} --md {output.md} --csv {output.csv} --figure {output.png} > {log} 2>&1"


rule sae_causal:
    input:
        model="results/sae/{model}/main/model",
        corpus=f"results/embeddings/{{model}}/{SAE_EVAL_DATASET}/corpus.npy",
        codes=f"results/sae/{{model}}/main/codes-{SAE_EVAL_DATASET}.npz",
        latents="results/sae/{model}/main/latents.json",
        manifest=f"results/data/{SAE_EVAL_DATASET}/manifest.json",
    output:
        md=report(
            "reports/tables/sae/{model}/causal.md",
            caption="../report/sae_causal.rst",
            category="SAE (sparse autoencoders)",
            labels={"table": "causal checks"},
        ),
        csv="reports/tables/sae/{model}/causal.csv",
    log:
        "results/logs/sae/causal/{model}.log",
    benchmark:
        "results/benchmarks/sae/causal/{model}.tsv"
    conda:
        "../../envs/sae.yaml"
    threads: SAE_EVAL_THREADS
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=gpus(),
    params:
        embeddings=lambda w, input: os.path.dirname(input.corpus),
        data=lambda w, input: os.path.dirname(input.manifest),
        encoder=lambda w: quoted(model_cfg(w.model)["id"]),
        local=" ".join(local_dir_args()),
        device=quoted(DEVICE),
        opts=sae_option_args("causal", ["targets", "repeats", "pattern_docs", "pattern_repeats", "pattern_min_docs"]),
        seed=config["seed"],
    shell:
        "irlens sae causal --model {input.model} --embeddings {params.embeddings} --codes {input.codes} "
        "--latents-json {input.latents} --encoder {params.encoder} {params.local} --data {params.data} "
        "--device {params.device} {params.opts} --seed {params.seed} --threads {threads} "
        "--md {output.md} --csv {output.csv} > {log} 2>&1"


rule sae_export:
    input:
        model="results/sae/{model}/{variant}/model",
        corpus=f"results/embeddings/{{model}}/{SAE_EVAL_DATASET}/corpus.npy",
    output:
        directory("results/sae/{model}/{variant}/saelens"),
    log:
        "results/logs/sae/export/{model}/{variant}.log",
    benchmark:
        "results/benchmarks/sae/export/{model}/{variant}.tsv"
    conda:
        "../../envs/sae.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        embeddings=lambda w, input: os.path.dirname(input.corpus),
    shell:
        "irlens sae export-saelens --model {input.model} --embeddings {params.embeddings} --encoder-codes "
        "--threads {threads} --out {output} > {log} 2>&1"
