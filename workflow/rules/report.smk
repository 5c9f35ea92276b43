# Report stage: tables (markdown + CSV) of every model x dataset; figures join here in later stages.


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
