# Report stage: the retrieval results table (every model x dataset) and the Claims table of the landing page.


include: "report_functions.smk"


rule retrieval_table:
    input:
        metrics=run_files(DATASETS),
    output:
        md=report(
            "reports/tables/retrieval.md",
            caption="../report/retrieval.rst",
            category="Retrieval",
            labels={"table": "retrieval (markdown)"},
        ),
        csv=report(
            "reports/tables/retrieval.csv",
            caption="../report/retrieval.rst",
            category="Retrieval",
            labels={"table": "retrieval (CSV)"},
        ),
    log:
        "results/logs/report/retrieval_table.log",
    benchmark:
        "results/benchmarks/report/retrieval_table.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "irlens report table --metrics {input.metrics} --md {output.md} --csv {output.csv} > {log} 2>&1"


rule report_claims:
    input:
        unpack(claims_inputs),
    output:
        md=report(
            "reports/tables/claims.md",
            caption="../report/claims.rst",
            category="0 Claims",
            labels={"table": "claims (markdown)"},
        ),
        csv=report(
            "reports/tables/claims.csv",
            caption="../report/claims.rst",
            category="0 Claims",
            labels={"table": "claims (CSV)"},
        ),
    log:
        "results/logs/report/report_claims.log",
    benchmark:
        "results/benchmarks/report/report_claims.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        args=claims_args,
    shell:
        "irlens report claims {params.args} --md {output.md} --csv {output.csv} > {log} 2>&1"
